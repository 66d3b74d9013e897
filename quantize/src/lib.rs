//! ggml tensor types, block codecs (bit-exact with ggml's x86-64 reference quantizers) and
//! llama.cpp's file-type rules.

pub mod codec;
pub mod ftype;
pub mod iq1;
pub mod iq1_grids;
pub mod iq2;
pub mod iq2_grids;
pub mod iq3;
pub mod iq3_grids;
pub mod iq4nl;
pub mod kquants;
pub mod legacy;
pub mod lowbit;
pub mod mxfp4;
pub mod prim;
pub mod q2k_q3k;
pub mod search;
#[cfg(target_arch = "x86_64")]
mod sse2;
pub mod types;

pub use codec::{dequantize, quantize};
pub use types::GgmlType;
