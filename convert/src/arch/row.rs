//! The rows of the architecture tables' GGUF column: each GGUF tensor, the BlinkDL tensors it is
//! made from, the transform between them, and whether llama.cpp's converter forces it to F32.
//! Each version's file (`v4.rs` … `v7.rs`) lists its layer's rows; [`super::gguf::rows`] puts
//! a whole model's together.

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
