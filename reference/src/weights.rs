//! Weights taken from the canonical model. Matrices and the embedding table stay where they are
//! stored and are widened as they are used; small vectors are widened to f32 at load (bf16/f16 →
//! f32 is exact), LoRA factors read in place as stored `[in, out]`.

use crate::linear::Linear;
use crate::ops;
use convert::{DType, Error, Model, Result, Tensor};
use half::{bf16, f16};
use ndarray::Array2;

pub struct Weights<'a> {
    pub model: &'a Model,
}

impl<'a> Weights<'a> {
    pub fn new(model: &'a Model) -> Self {
        Weights { model }
    }
    pub fn tensor(&self, name: &str) -> Result<&'a Tensor> {
        self.model.get(name).ok_or_else(|| Error::not_rwkv("tensor is missing").tensor(name).at(&self.model.path))
    }
    pub fn has(&self, name: &str) -> bool {
        self.model.get(name).is_some()
    }
    /// Any tensor, flattened to f32 (`[1,1,C]` → C values).
    pub fn vec(&self, name: &str) -> Result<Vec<f32>> {
        self.tensor(name)?.to_f32()
    }
    /// A LayerNorm/GroupNorm's `(weight, bias)` under `name`.
    pub fn layer_norm(&self, name: &str) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.vec(&format!("{name}.weight"))?, self.vec(&format!("{name}.bias"))?))
    }
    /// A 2-D tensor as stored.
    pub fn matrix(&self, name: &str) -> Result<Array2<f32>> {
        let t = self.tensor(name)?;
        let shape = t.squeezed_shape();
        let (r, c) = match shape.as_slice() {
            [r, c] => (*r, *c),
            _ => return Err(Error::not_rwkv(format!("expected a matrix, found {}", t.shape_string())).tensor(name)),
        };
        Ok(Array2::from_shape_vec((r, c), t.to_f32()?).expect("shape matches the element count"))
    }
    /// An `nn.Linear` weight, stored `[out, in]`: read in place when stored as f32, bf16 or f16.
    pub fn linear(&self, name: &str) -> Result<Linear> {
        let t = self.tensor(name)?;
        if let [r, c] = t.squeezed_shape()[..] {
            if let Some(l) = Linear::stored(t, r, c, name) {
                return Ok(l);
            }
        }
        Ok(Linear::named(self.matrix(name)?, name))
    }
    /// A LoRA factor used as `x·W`, stored `[in, out]`: read in place when stored as f32, bf16
    /// or f16.
    pub fn lora(&self, name: &str) -> Result<Linear> {
        if let Some(l) = Linear::stored_columns(self.tensor(name)?, name) {
            return Ok(l);
        }
        Ok(Linear::named(self.matrix(name)?.reversed_axes(), name))
    }
}

/// The token embedding with `blocks.0.ln0` applied, row by row on demand.
pub struct Embedding {
    table: Tensor,
    ln_w: Vec<f32>,
    ln_b: Vec<f32>,
    /// Round the normalised row to this dtype, as the official package does for v4–v6 by applying
    /// ln0 to the table in the file's dtype (its "ln0 quirk").
    round_to: Option<DType>,
}

impl Embedding {
    pub fn new(w: &Weights, round_to: Option<DType>) -> Result<Embedding> {
        Ok(Embedding {
            table: w.tensor("emb.weight")?.clone(),
            ln_w: w.vec("blocks.0.ln0.weight")?,
            ln_b: w.vec("blocks.0.ln0.bias")?,
            round_to: round_to.filter(|d| matches!(d, DType::BF16 | DType::F16)),
        })
    }
    pub fn dim(&self) -> usize {
        self.table.shape[1]
    }
    pub fn vocab(&self) -> usize {
        self.table.shape[0]
    }
    /// The raw (not normalised) row of a token.
    pub fn raw_row(&self, token: u32) -> Vec<f32> {
        self.table.row_f32(token as usize, self.dim()).expect("a row of the table")
    }
    /// `ln0(emb[token])`, written into `out`.
    pub fn row(&self, token: u32, out: &mut [f32]) {
        let raw = self.raw_row(token);
        ops::layer_norm_row(&raw, &self.ln_w, &self.ln_b, out);
        match self.round_to {
            Some(DType::BF16) => out.iter_mut().for_each(|v| *v = bf16::from_f32(*v).to_f32()),
            Some(DType::F16) => out.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32()),
            _ => {}
        }
    }
    /// Rows for a token sequence, [T, C].
    pub fn rows(&self, tokens: &[u32]) -> Array2<f32> {
        let mut x = Array2::zeros((tokens.len(), self.dim()));
        for (t, mut row) in tokens.iter().zip(x.outer_iter_mut()) {
            self.row(*t, row.as_slice_mut().expect("contiguous"));
        }
        x
    }
}
