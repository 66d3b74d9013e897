//! What people publish after training, read as data: LoRA/PiSSA adapters ([`lora`]), merged into
//! the canonical model when it is opened, and state-tuned initial states ([`state`]), which the
//! engine starts from. Both come as torch files of named tensors (RWKV-PEFT's `torch.save`).

pub mod lora;
mod scratch;
pub mod state;

pub use lora::{AdapterSpec, MergeSummary};
pub use state::TunedState;
