//! The row types of the architecture tables. The GGUF column: each GGUF tensor, the BlinkDL
//! tensors it is made from, the transform between them, and whether llama.cpp's converter forces
//! it to F32; each version's file (`v4.rs` … `v7.rs`) lists its layer's rows and
//! [`super::gguf::rows`] puts a whole model's together. The HF column's written shapes.

use super::transform::Transform;

#[derive(Debug, Clone)]
pub struct GgufRow {
    pub gguf: String,
    pub sources: Vec<String>,
    /// Shape as written, torch order (GGUF `ne` is its reverse).
    pub shape: Vec<usize>,
    pub transform: Transform,
    /// llama.cpp's converter writes this tensor as F32 whatever the output type.
    pub f32: bool,
}

pub(crate) fn row(gguf: String, sources: &[String], shape: Vec<usize>, transform: Transform, f32: bool) -> GgufRow {
    GgufRow { gguf, sources: sources.to_vec(), shape, transform, f32 }
}

/// How an HF row's written shape follows from the BlinkDL tensor's.
#[derive(Clone, Copy)]
pub enum Written {
    Same,
    /// Without its dimensions of 1 (`[1, 1, C]` → `[C]`).
    Squeezed,
    /// Reversed (the written side of a transpose).
    Reversed,
}

/// A row of a version's HF name table: BlinkDL's name, the HF name, the transform between them,
/// the written shape (both names relative to a layer's prefix, or global).
pub type HfName = (&'static str, &'static str, Transform, Written);
