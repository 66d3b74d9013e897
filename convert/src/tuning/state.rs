//! State-tuned initial states: RWKV-PEFT's state tuning trains each layer's WKV state and saves
//! them as a torch file of `blocks.{i}.att.time_state` [H, N, N], one per layer. Read here as
//! trained; which way round the engine holds them is the engine's business (it differs by
//! version). A whole model with the states merged in (merge_state.py's output) reads too: its
//! other tensors are passed over.

use crate::arch::Version;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::torch::TorchCheckpoint;
use std::path::{Path, PathBuf};

pub struct TunedState {
    pub path: PathBuf,
    pub heads: usize,
    pub head_size: usize,
    /// Layer by layer, the `[H, N, N]` values as stored, widened to f32.
    pub layers: Vec<Vec<f32>>,
}

impl TunedState {
    pub fn open(path: &Path) -> Result<TunedState> {
        let ckpt = TorchCheckpoint::open(path)?;
        Self::from_tensors(path, &ckpt.tensors)
    }

    /// The states a state-tuned model file carries in itself (`None`: it has none).
    pub fn of_model(model: &Model) -> Result<Option<TunedState>> {
        if !model.hparams.has_time_state {
            return Ok(None);
        }
        Self::from_tensors(&model.path, &model.tensors).map(Some)
    }

    /// The `blocks.{i}.att.time_state` tensors among `tensors` (read from `path`).
    fn from_tensors(path: &Path, tensors: &[crate::Tensor]) -> Result<TunedState> {
        let mut found: Vec<(usize, &crate::Tensor)> = Vec::new();
        for t in tensors {
            let layer = t.name.strip_prefix("blocks.").and_then(|r| r.strip_suffix(".att.time_state"));
            if let Some(layer) = layer {
                let i = layer.parse::<usize>().map_err(|_| {
                    Error::corrupt("is not named blocks.<layer>.att.time_state").tensor(&t.name).at(path)
                })?;
                found.push((i, t));
            }
        }
        if found.is_empty() {
            return Err(Error::not_rwkv(format!(
                "has no blocks.<layer>.att.time_state tensors, so it is no state-tuning file (it holds {} other \
                 tensors)",
                tensors.len()
            ))
            .at(path));
        }
        found.sort_by_key(|&(i, _)| i);
        let (_, first) = found[0];
        let shape = first.shape.clone();
        if shape.len() != 3 || shape[1] != shape[2] || shape[0] == 0 || shape[1] == 0 {
            return Err(Error::corrupt(format!("is {}, not [heads, head_size, head_size]", first.shape_string()))
                .tensor(&first.name)
                .at(path));
        }
        let mut layers = Vec::with_capacity(found.len());
        for (n, &(i, t)) in found.iter().enumerate() {
            if i != n {
                let missing = format!("blocks.{n}.att.time_state");
                return Err(Error::corrupt("is missing: the layers' states must be 0, 1, 2, … without gaps")
                    .tensor(&missing)
                    .at(path));
            }
            if t.shape != shape {
                return Err(Error::corrupt(format!(
                    "is {} where layer 0's is {}",
                    t.shape_string(),
                    first.shape_string()
                ))
                .tensor(&t.name)
                .at(path));
            }
            if !t.dtype.is_float() || t.dtype.is_quant() {
                return Err(Error::unsupported(format!("is {}, not a float type", t.dtype)).tensor(&t.name).at(path));
            }
            layers.push(t.to_f32().map_err(|e| e.at(path))?);
        }
        Ok(TunedState { path: path.to_path_buf(), heads: shape[0], head_size: shape[1], layers })
    }

    /// The state must be of `model`'s version family, layer count and head shape.
    pub fn check(&self, model: &Model) -> Result<()> {
        let err = |m: String| Error::unsupported(m).at(&self.path);
        if model.version == Version::V4 {
            return Err(err(format!(
                "{} is RWKV-4, whose state (per-channel sums) has no state-tuning format; state files are for \
                 RWKV-5, 6 and 7",
                model.path.display()
            )));
        }
        let hp = &model.hparams;
        let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
        if self.layers.len() != hp.n_layer || self.heads != h || self.head_size != n {
            return Err(err(format!(
                "holds {} layers of [{}, {n2}, {n2}] states, but {} has {} layers of {h} heads of size {n}",
                self.layers.len(),
                self.heads,
                model.path.display(),
                hp.n_layer,
                n2 = self.head_size,
            )));
        }
        Ok(())
    }
}
