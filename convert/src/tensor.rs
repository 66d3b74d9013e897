//! Named tensors whose bytes are borrowed from a memory map, or owned when a transform had to
//! make new ones. Cloning a tensor never copies its bytes.

use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use memmap2::Mmap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

#[derive(Clone)]
pub enum Bytes {
    /// A range of the model's own file, memory-mapped: nothing is read until the bytes are used.
    /// Writers copy such ranges from `Model::path` directly, so only that file's map goes here.
    Mapped {
        map: Arc<Mmap>,
        range: Range<usize>,
    },
    Owned(Arc<[u8]>),
    /// A range of a buffer several tensors share (made once, e.g. a dequantized GGUF tensor).
    Shared {
        buf: Arc<Vec<u8>>,
        range: Range<usize>,
    },
    /// A range of a scratch file the process made (merged fine-tunes): mapped like the model's
    /// own bytes, so its pages can be let go, but not from the model's file.
    Scratch {
        map: Arc<Mmap>,
        range: Range<usize>,
    },
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped { map, range } => &map[range.clone()],
            Bytes::Owned(v) => v,
            Bytes::Shared { buf, range } => &buf[range.clone()],
            Bytes::Scratch { map, range } => &map[range.clone()],
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Bytes::Mapped { range, .. } => range.len(),
            Bytes::Owned(v) => v.len(),
            Bytes::Shared { range, .. } => range.len(),
            Bytes::Scratch { range, .. } => range.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Let the kernel drop these bytes' pages from this process (they stay in the page cache and
    /// come back on the next read). Writers call this after each tensor so that converting a
    /// model never keeps more than about one tensor resident.
    pub fn release_pages(&self) {
        self.release_part(0, self.len());
    }

    /// [`Bytes::release_pages`] for `len` bytes from `offset` (a chunk already written out).
    pub fn release_part(&self, offset: usize, len: usize) {
        #[cfg(unix)]
        if let Bytes::Mapped { map, range } | Bytes::Scratch { map, range } = self {
            let start = range.start + offset.min(range.len());
            let len = len.min(range.end - start);
            // SAFETY: the map is read-only and file-backed: dropped pages are re-read from the
            // file unchanged, so no borrowed slice ever sees different bytes.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
        }
    }

    /// True when the bytes stay in the file's map (no copy was made).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Bytes::Mapped { .. })
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bytes::Mapped { range, .. } => write!(f, "Mapped({range:?})"),
            Bytes::Owned(v) => write!(f, "Owned({} bytes)", v.len()),
            Bytes::Shared { range, .. } => write!(f, "Shared({range:?})"),
            Bytes::Scratch { range, .. } => write!(f, "Scratch({range:?})"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Bytes,
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn bytes(&self) -> &[u8] {
        self.data.as_slice()
    }
    /// The values widened to f32 (copies).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        dtype::to_f32(self.dtype, self.bytes()).map_err(|e| e.tensor(&self.name))
    }
    /// Row `i` of a tensor of rows of `cols` values (the last dimension), widened to f32;
    /// float and quantized storage alike.
    pub fn row_f32(&self, i: usize, cols: usize) -> Result<Vec<f32>> {
        let n =
            self.dtype.row_bytes(cols).ok_or_else(|| Error::corrupt("rows are not whole blocks").tensor(&self.name))?;
        let bytes = self
            .bytes()
            .get(i * n..(i + 1) * n)
            .ok_or_else(|| Error::corrupt(format!("has no row {i}")).tensor(&self.name))?;
        dtype::to_f32(self.dtype, bytes).map_err(|e| e.tensor(&self.name))
    }
    /// The shape without its size-1 dimensions, e.g. `[1, 1, C]` → `[C]`.
    pub fn squeezed_shape(&self) -> Vec<usize> {
        squeeze(&self.shape)
    }
    pub fn shape_string(&self) -> String {
        shape_string(&self.shape)
    }
}

pub fn squeeze(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

pub fn shape_string(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Checked element count and byte size of a shape.
pub fn byte_size(shape: &[usize], dtype: DType) -> Result<usize> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::corrupt(format!("shape {} overflows", shape_string(shape))))
}
