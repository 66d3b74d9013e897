//! ggml tensor types, block codecs and llama.cpp's file-type rules.

pub mod types;

pub use types::GgmlType;
