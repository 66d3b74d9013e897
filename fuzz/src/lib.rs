//! Fuzz harness for rwkv-convert's readers; the target bodies live in `harness.rs` so that the
//! root package's tests can replay regression inputs through exactly the same code.

pub mod harness;
