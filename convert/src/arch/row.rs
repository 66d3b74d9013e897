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
#[derive(Debug, Clone, Copy)]
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

/// One BlinkDL tensor of a layer (its name under `blocks.N.`), its shape and presence rule, and
/// the GGUF and HF tensors it goes into: a version's table is a list of these per layer
/// (`vN::layer`).
#[derive(Debug, Clone)]
pub struct LayerRow {
    pub blink: &'static str,
    pub shape: Vec<usize>,
    pub presence: super::Presence,
    pub gguf: Option<GgufTo>,
    /// The HF tensor it goes into, where the version's HF names are a table (RWKV-7's fla names;
    /// RWKV-4/5/6 names are BlinkDL's renamed by rule): name under the layer's prefix, transform,
    /// written shape.
    pub hf: Option<(&'static str, Transform, Written)>,
}

/// Where a layer row goes in GGUF: the tensor's name under `blk.N.`, its written shape, the
/// transform, and whether llama.cpp's converter forces it to F32. Rows naming the same tensor with
/// [`Transform::Stack`] are stacked in table order; `from` makes the tensor from another row's
/// BlinkDL tensor instead (llama.cpp's placeholders for what a layer lacks).
#[derive(Debug, Clone)]
pub struct GgufTo {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub transform: Transform,
    pub f32: bool,
    pub from: Option<&'static str>,
}

impl LayerRow {
    pub fn new(blink: &'static str, shape: Vec<usize>, presence: super::Presence) -> LayerRow {
        LayerRow { blink, shape, presence, gguf: None, hf: None }
    }
    /// Written to GGUF as `name` (`f32`: always F32).
    pub fn gguf(self, name: &'static str, shape: Vec<usize>, transform: Transform, f32: bool) -> LayerRow {
        LayerRow { gguf: Some(GgufTo { name, shape, transform, f32, from: None }), ..self }
    }
    /// Written to HF as `name`.
    pub fn hf(self, name: &'static str, transform: Transform, written: Written) -> LayerRow {
        LayerRow { hf: Some((name, transform, written)), ..self }
    }
    /// Its GGUF tensor made from the layer's `blink` tensor instead.
    pub fn from(mut self, blink: &'static str) -> LayerRow {
        if let Some(g) = self.gguf.as_mut() {
            g.from = Some(blink);
        }
        self
    }
}

/// Layer `i`'s GGUF rows from its table, in table order; a stack where its first member stands.
pub fn gguf_rows(table: &[LayerRow], i: usize) -> Vec<GgufRow> {
    let mut out: Vec<GgufRow> = Vec::new();
    for r in table {
        let Some(g) = &r.gguf else { continue };
        let (gguf, source) = (format!("blk.{i}.{}", g.name), format!("blocks.{i}.{}", g.from.unwrap_or(r.blink)));
        match out.iter_mut().find(|o| o.gguf == gguf && g.transform == Transform::Stack) {
            Some(stack) => stack.sources.push(source),
            None => out.push(row(gguf, &[source], g.shape.clone(), g.transform, g.f32)),
        }
    }
    out
}
