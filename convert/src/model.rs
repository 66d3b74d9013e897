//! The canonical model: what every reader produces and every writer and the engine consume.
//! Tensors keep BlinkDL's names and the file's order; their bytes stay in the source's map. It
//! sits below the readers, which build it; [`crate::load`] picks the reader for a path.

use crate::arch::{self, HParams, Version};
use crate::dtype::DType;
use crate::error::{Result, ResultExt};
use crate::tensor::Tensor;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where a model was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    TorchZip { prefix: String },
    TorchLegacy,
    Gguf { arch: String },
    Hf { model_type: String },
}

/// What a format reader gives: the tensors under BlinkDL's names, where they came from, and the
/// bytes read; [`crate::load`] makes the [`Model`] of them.
pub struct Read {
    pub source: Source,
    pub file_size: u64,
    pub tensors: Vec<Tensor>,
}

pub struct Model {
    pub path: PathBuf,
    pub source: Source,
    pub file_size: u64,
    pub version: Version,
    pub hparams: HParams,
    pub tensors: Vec<Tensor>,
    index: HashMap<String, usize>,
}

impl Model {
    /// Detect the architecture of a list of named tensors and check them against its table.
    pub fn new(path: &Path, source: Source, file_size: u64, tensors: Vec<Tensor>) -> Result<Model> {
        let (version, hparams) = arch::detect(&tensors).at(path)?;
        let index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(Model { path: path.to_path_buf(), source, file_size, version, hparams, tensors, index })
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    pub fn n_params(&self) -> u64 {
        self.tensors.iter().map(|t| t.numel() as u64).sum()
    }

    /// Tensor count and bytes per dtype.
    pub fn dtype_summary(&self) -> BTreeMap<&'static str, (usize, u64)> {
        let mut out = BTreeMap::new();
        for t in &self.tensors {
            let e: &mut (usize, u64) = out.entry(t.dtype.name()).or_default();
            e.0 += 1;
            e.1 += t.data.len() as u64;
        }
        out
    }

    /// The dtype most of the weight bytes are in.
    pub fn main_dtype(&self) -> Option<DType> {
        let mut bytes: HashMap<DType, u64> = HashMap::new();
        // Quantized blocks count as the f32 they stand for (what writers widen them to).
        for t in &self.tensors {
            let d = if t.dtype.is_quant() { DType::F32 } else { t.dtype };
            *bytes.entry(d).or_default() += t.data.len() as u64;
        }
        bytes.into_iter().max_by_key(|&(_, b)| b).map(|(d, _)| d)
    }
}
