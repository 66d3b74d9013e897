//! torch checkpoints (`.pth`): the zip container of torch ≥ 1.6 and the legacy stream before it.
//! Both end up as an ordered list of named tensors whose bytes stay in the file's memory map.

pub mod legacy;
pub mod pickle;
pub mod writer;
pub mod zip;

use crate::error::{Error, Result, ResultExt};
use crate::tensor::{Bytes, Tensor};
use memmap2::Mmap;
use pickle::{TensorRef, Value};
use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// torch ≥ 1.6: a stored, 64-byte aligned zip; `prefix` is its top folder (`archive` for
    /// torch 1.x, the file's stem for torch 2.x).
    Zip { prefix: String },
    /// `_use_new_zipfile_serialization=False`: concatenated pickles, then raw storages.
    Legacy,
}

/// What a torch checkpoint holds, before anything RWKV-specific is known about it.
pub struct TorchCheckpoint {
    pub path: PathBuf,
    pub container: Container,
    pub tensors: Vec<Tensor>,
    pub file_size: u64,
    /// Zip entries with their stored CRC-32, for [`TorchCheckpoint::verify`] (empty for legacy files,
    /// which carry no checksums).
    pub records: Vec<Record>,
    map: Arc<Mmap>,
}

/// A zip entry that the checkpoint uses, and the tensors that live in it.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub range: Range<usize>,
    pub crc32: u32,
    pub tensors: Vec<String>,
}

/// Sniffed from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    TorchZip,
    TorchLegacy,
    Other,
}

/// torch's legacy magic number, 0x1950a86a20f9469cfc6c, as the LONG1 operand it is pickled as.
const LEGACY_MAGIC_LONG1: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// The legacy stream starts with the magic number pickled in the caller's protocol: PROTO 2 (the
/// default) and the LONG1, or, from protocol 4 on, PROTO and a FRAME of 8 length bytes first.
pub fn is_legacy_stream(head: &[u8]) -> bool {
    match head {
        [0x80, 2 | 3, rest @ ..] => rest.starts_with(LEGACY_MAGIC_LONG1),
        [0x80, 4 | 5, 0x95, rest @ ..] => rest.get(8..).is_some_and(|r| r.starts_with(LEGACY_MAGIC_LONG1)),
        [0x80, 4 | 5, rest @ ..] => rest.starts_with(LEGACY_MAGIC_LONG1),
        _ => false,
    }
}

pub fn sniff(head: &[u8]) -> FileKind {
    if head.starts_with(b"PK\x03\x04") {
        FileKind::TorchZip
    } else if is_legacy_stream(head) {
        FileKind::TorchLegacy
    } else {
        FileKind::Other
    }
}

/// Map a whole file read-only. Empty files cannot be mapped and are refused here with a clear word.
pub fn map_file(path: &Path) -> Result<Arc<Mmap>> {
    Ok(open_and_map(path)?.1)
}

fn open_and_map(path: &Path) -> Result<(std::fs::File, Arc<Mmap>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(e, path))?;
    let len = file.metadata().map_err(|e| Error::io(e, path))?.len();
    if len == 0 {
        return Err(Error::corrupt("the file is empty").at(path));
    }
    // SAFETY: the map is read-only; a file changed underneath us by another process can give
    // wrong values but not unsafety in this process beyond what every mmap reader accepts.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(e, path))?;
    Ok((file, Arc::new(map)))
}

impl TorchCheckpoint {
    pub fn open(path: &Path) -> Result<TorchCheckpoint> {
        let (file, map) = open_and_map(path)?;
        Self::read(path, map, Some(&file))
    }

    /// Read a checkpoint from bytes already mapped; `path` names it in messages.
    pub fn from_map(path: &Path, map: Arc<Mmap>) -> Result<TorchCheckpoint> {
        Self::read(path, map, None)
    }

    fn read(path: &Path, map: Arc<Mmap>, file: Option<&std::fs::File>) -> Result<TorchCheckpoint> {
        if map.is_empty() {
            return Err(Error::corrupt("the file is empty").at(path));
        }
        let (container, tensors, records) = match sniff(&map) {
            FileKind::TorchZip => zip::read(&map, file).at(path)?,
            FileKind::TorchLegacy => {
                let (container, tensors) = legacy::read(&map).at(path)?;
                (container, tensors, Vec::new())
            }
            FileKind::Other => return Err(not_torch(&map).at(path)),
        };
        let file_size = map.len() as u64;
        Ok(TorchCheckpoint { path: path.to_path_buf(), container, tensors, file_size, records, map })
    }

    /// Read every used zip entry and check it against its CRC-32 (reads all tensor data). torch
    /// writes CRC 0 when checksums are switched off (`set_crc32_options(False)`); those are skipped.
    /// Then check that no float tensor holds NaN or an infinity (legacy files, which carry no
    /// checksums, get this check too). Returns how many entries were CRC-checked.
    pub fn verify(&self) -> Result<usize> {
        let checked = self.verify_crc()?;
        for t in &self.tensors {
            if let Some((i, v)) = crate::dtype::first_non_finite(t.dtype, t.bytes()) {
                return Err(Error::corrupt(format!(
                    "element {i} is {v}: the checkpoint holds non-finite weights (a diverged or damaged model)"
                ))
                .tensor(&t.name)
                .at(&self.path));
            }
            t.data.release_pages();
        }
        Ok(checked)
    }

    fn verify_crc(&self) -> Result<usize> {
        let mut checked = 0;
        for r in self.records.iter().filter(|r| r.crc32 != 0) {
            let actual = crc32fast::hash(&self.map[r.range.clone()]);
            if actual != r.crc32 {
                let mut e = Error::corrupt(format!(
                    "zip entry '{}' fails its CRC-32 check (stored {:08x}, computed {actual:08x}): the file is corrupted",
                    r.name, r.crc32
                ))
                .at(&self.path);
                if let Some(t) = r.tensors.first() {
                    e = e.tensor(t);
                }
                return Err(e);
            }
            checked += 1;
        }
        Ok(checked)
    }
}

fn not_torch(head: &[u8]) -> Error {
    let what = if head.len() > 262 && &head[257..262] == b"ustar" {
        "a tar archive (torch ≤ 0.3 format), which is not supported"
    } else if head.starts_with(b"GGUF") {
        "a GGUF file, not a torch checkpoint"
    } else if head.len() >= 8 && head[8..].starts_with(b"{") {
        "probably a safetensors file, not a torch checkpoint"
    } else {
        "not a torch checkpoint: it starts with neither a zip signature nor torch's legacy magic number"
    };
    Error::unsupported(what)
}

/// A storage's bytes in the file, as the container located them.
pub struct StorageBytes {
    pub map: Arc<Mmap>,
    pub range: Range<usize>,
}

/// The top-level object of a state-dict pickle: `name → tensor`, in file order.
pub fn state_dict_entries(value: &Value) -> Result<Vec<(String, Rc<TensorRef>)>> {
    let items = value.as_dict().ok_or_else(|| {
        Error::unsupported("the pickled object is not a dict of tensors (a state dict); nothing to read")
    })?;
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let mut not_tensors = Vec::new();
    for (k, v) in items {
        let name =
            k.as_str().ok_or_else(|| Error::unsupported(format!("state dict key {} is not a string", k.describe())))?;
        match v {
            Value::Tensor(t) => {
                if !seen.insert(name.to_string()) {
                    return Err(Error::corrupt("the state dict names this tensor twice").tensor(name));
                }
                out.push((name.to_string(), t.clone()));
            }
            other => not_tensors.push(format!("'{name}' ({})", other.describe())),
        }
    }
    if items.iter().any(|(k, _)| matches!(k.as_str(), Some("_strategy" | "_rescale_layer" | "_version"))) {
        return Err(Error::unsupported(
            "this is a ChatRWKV pre-converted file (it has _strategy/_version entries): its weights are \
             transposed, rescaled or int8; use the raw release checkpoint instead",
        ));
    }
    if !not_tensors.is_empty() {
        return Err(Error::unsupported(format!(
            "the state dict has entries that are not tensors: {} (a training checkpoint? save model.state_dict())",
            not_tensors.join(", ")
        )));
    }
    Ok(out)
}

/// Turn a tensor reference into a tensor over its storage's bytes: zero-copy when the tensor is
/// C-contiguous (always, in RWKV releases), a gathered copy otherwise.
pub fn materialize(name: &str, t: &TensorRef, storage: &StorageBytes) -> Result<Tensor> {
    let dtype = t.storage.dtype;
    let es = dtype.size();
    let err = |msg: String| Error::corrupt(msg).tensor(name);
    let numel =
        t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| err("shape overflows".into()))?;
    let storage_numel = storage.range.len() / es;
    let offset = usize::try_from(t.offset).map_err(|_| err("storage offset overflows".into()))?;
    let shape = t.shape.clone();
    if numel == 0 {
        return Ok(Tensor { name: name.to_string(), dtype, shape, data: Bytes::Owned(Arc::from(Vec::new())) });
    }
    // Last element touched: offset + Σ (size_i − 1)·stride_i, all checked.
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(offset, |a, (&d, &s)| (d - 1).checked_mul(s).and_then(|x| a.checked_add(x)))
        .ok_or_else(|| err("strides overflow".into()))?;
    if last >= storage_numel {
        return Err(err(format!(
            "reaches element {last} of storage '{}', which has only {storage_numel} elements",
            t.storage.key
        )));
    }
    let base = storage.range.start;
    if is_contiguous(&t.shape, &t.stride) {
        let start = base + offset * es;
        let range = start..start + numel * es;
        return Ok(Tensor {
            name: name.to_string(),
            dtype,
            shape,
            data: Bytes::Mapped { map: storage.map.clone(), range },
        });
    }
    // A view whose elements do not overlap has at most as many elements as its storage. More
    // means strides that repeat elements (stride 0, as `expand()` makes): a few bytes of file
    // could then ask for gigabytes of copy, so it is refused.
    if numel > storage_numel {
        return Err(Error::unsupported(format!(
            "is a view of {numel} elements over storage '{}' of only {storage_numel}: its strides {:?} repeat \
             elements (as expand() makes); save a contiguous copy (tensor.contiguous()) instead",
            t.storage.key, t.stride
        ))
        .tensor(name));
    }
    // Gather a strided view element by element (rare: never seen in RWKV files).
    let mut out = Vec::with_capacity(numel * es);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..numel {
        let elem = offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        let at = base + elem * es;
        out.extend_from_slice(&storage.map[at..at + es]);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor { name: name.to_string(), dtype, shape, data: Bytes::Owned(Arc::from(out)) })
}

fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}
