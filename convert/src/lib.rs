//! RWKV checkpoints in and out of one canonical [`Model`]. Data flows one way: a format reader
//! (`torch`, `gguf::import`, `hf::read`), chosen by [`load`], builds the `Model` (BlinkDL names,
//! bytes left in the source's map) through the version tables in [`arch`]; a writer
//! (`gguf::export`, `hf`) maps it out through the same tables, streaming each tensor through
//! [`emit`] into an [`output`] file. Fine-tunes ([`tuning`]) are read beside it: LoRA/PiSSA
//! adapters merge into the `Model` before anything consumes it; state-tuned states go to the
//! engine. Nothing below a reader imports it back.

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
pub mod tuning;
pub mod vocab;

pub use dtype::DType;
pub use error::{Error, ErrorKind, Result};
pub use model::Model;
pub use tensor::Tensor;
