//! Reading RWKV checkpoints into one canonical [`Model`]; later, name tables and writers per target.

pub mod arch;
pub mod dtype;
pub mod emit;
pub mod error;
pub mod gguf;
pub mod hf;
pub mod load;
pub mod model;
pub mod output;
pub mod synth;
pub mod tensor;
pub mod torch;
pub mod vocab;

pub use dtype::DType;
pub use error::{Error, ErrorKind, Result};
pub use model::Model;
pub use tensor::Tensor;
