//! The loader: what a path holds, and the canonical [`Model`] of what that format's reader
//! returns. It sits above the readers (`torch`, `gguf::import`, `hf::read`), which return tensors
//! under BlinkDL's names and their source ([`Read`]), and never come back up here.

use crate::error::{Result, ResultExt};
use crate::gguf::GgufFile;
use crate::model::{Model, Read, Source};
use crate::torch::{Container, TorchCheckpoint};
use std::path::Path;

/// The formats a model is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Hugging Face folder: `config.json` and safetensors.
    HfFolder,
    Gguf,
    /// Anything else is taken for a torch checkpoint; its reader tells a zip archive from a
    /// legacy stream and refuses what is neither.
    Torch,
}

/// The format at `path`, from whether it is a folder and its first four bytes.
pub fn sniff(path: &Path) -> Format {
    if path.is_dir() {
        return Format::HfFolder;
    }
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    if read.is_ok() && &head == crate::gguf::MAGIC {
        Format::Gguf
    } else {
        Format::Torch
    }
}

impl Model {
    /// Open any supported checkpoint; reads only headers and metadata, never tensor data.
    pub fn open(path: &Path) -> Result<Model> {
        match sniff(path) {
            Format::HfFolder => Model::of(path, crate::hf::read::read(path).at(path)?),
            Format::Gguf => Model::from_gguf(&GgufFile::open(path)?),
            Format::Torch => Model::from_torch(TorchCheckpoint::open(path)?),
        }
    }

    /// The model of a GGUF file already open.
    pub fn from_gguf(f: &GgufFile) -> Result<Model> {
        Model::of(&f.path, crate::gguf::import::from_file(f).at(&f.path)?)
    }

    fn of(path: &Path, read: Read) -> Result<Model> {
        let mut model = Model::new(path, read.source, read.file_size, read.tensors).at(path)?;
        model.vocab = read.vocab;
        Ok(model)
    }

    pub fn from_torch(ckpt: TorchCheckpoint) -> Result<Model> {
        let source = match ckpt.container {
            Container::Zip { prefix } => Source::TorchZip { prefix },
            Container::Legacy => Source::TorchLegacy,
        };
        Model::new(&ckpt.path, source, ckpt.file_size, ckpt.tensors)
    }
}
