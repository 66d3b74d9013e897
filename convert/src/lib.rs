//! Reading RWKV checkpoints into one canonical [`Model`]; later, name tables and writers per target.

pub mod arch;
pub mod dtype;
pub mod error;
pub mod model;
pub mod tensor;
pub mod torch;

pub use dtype::DType;
pub use error::{Error, ErrorKind, Result};
pub use model::Model;
pub use tensor::Tensor;
