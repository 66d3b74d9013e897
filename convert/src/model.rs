//! The canonical model: what every reader produces and every writer and the engine consume.
//! Tensors keep BlinkDL's names and the file's order; their bytes stay in the source's map. It
//! sits below the readers, which build it; [`crate::load`] picks the reader for a path.

use crate::arch::{self, HParams, Version};
use crate::dtype::DType;
use crate::error::{Error, Result, ResultExt};
use crate::tensor::Tensor;
use crate::vocab::{SourceVocab, Vocab};
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
    pub vocab: SourceVocab,
}

pub struct Model {
    pub path: PathBuf,
    pub source: Source,
    pub file_size: u64,
    pub version: Version,
    pub hparams: HParams,
    pub tensors: Vec<Tensor>,
    /// The tokenizer the file carries, or the one chosen for it ([`Model::set_vocab`]).
    pub vocab: SourceVocab,
    index: HashMap<String, usize>,
}

impl Model {
    /// Detect the architecture of a list of named tensors and check them against its table.
    pub fn new(path: &Path, source: Source, file_size: u64, tensors: Vec<Tensor>) -> Result<Model> {
        let (version, hparams) = arch::detect(&tensors).at(path)?;
        let index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let vocab = SourceVocab::None;
        Ok(Model { path: path.to_path_buf(), source, file_size, version, hparams, tensors, vocab, index })
    }

    /// The model's tokenizer: the one chosen or carried by the file, else the one its vocabulary
    /// size was released with ([`Vocab::by_rows`]).
    pub fn tokenizer(&self) -> Result<Vocab> {
        let rows = self.hparams.vocab_size;
        let err = |m: String| Error::unsupported(m).at(&self.path);
        match &self.vocab {
            SourceVocab::Known(v) => Ok(v.clone()),
            SourceVocab::Unknown(what) => Err(err(format!(
                "its tokenizer ({what}) is neither World nor GPT-NeoX-20B; pass --tokenizer world|neox|PATH/tokenizer.json"
            ))),
            SourceVocab::None => Vocab::by_rows(rows).ok_or_else(|| {
                err(format!(
                    "a vocabulary of {rows} rows is neither World's (65536) nor GPT-NeoX-20B's (50277), so the \
                     tokenizer is unknown; pass --tokenizer world|neox|PATH/tokenizer.json"
                ))
            }),
        }
    }

    /// Choose the tokenizer (`--tokenizer`); refused when some id has no row in the model.
    pub fn set_vocab(&mut self, vocab: Vocab) -> Result<()> {
        vocab.check_fits(self.hparams.vocab_size).map_err(|m| Error::unsupported(m).at(&self.path))?;
        self.vocab = SourceVocab::Known(vocab);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// Where the tensor `name` is in [`Model::tensors`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
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
