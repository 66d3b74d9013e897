//! A scratch file for tensors a merge makes: written once, then mapped read-only, so that a model
//! with every matrix merged costs disk (the temporary directory), not memory, and writers can let
//! each tensor's pages go after it as they do for the model's own file.

use crate::error::{Error, Result};
use crate::tensor::Bytes;
use memmap2::Mmap;
use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

pub struct Scratch {
    file: std::io::BufWriter<std::fs::File>,
    len: usize,
}

impl Scratch {
    /// An unnamed file in the temporary directory ($TMPDIR): gone when the last map of it is.
    pub fn new() -> Result<Scratch> {
        let file = tempfile::tempfile().map_err(|e| Error::io(e, &std::env::temp_dir()))?;
        Ok(Scratch { file: std::io::BufWriter::new(file), len: 0 })
    }

    /// Append `bytes` at the next 64-byte boundary (as torch aligns storages); their range.
    pub fn append(&mut self, bytes: &[u8]) -> Result<Range<usize>> {
        let pad = self.len.next_multiple_of(64) - self.len;
        let err = |e| Error::io(e, &std::env::temp_dir());
        self.file.write_all(&[0u8; 64][..pad]).map_err(err)?;
        self.file.write_all(bytes).map_err(err)?;
        let start = self.len + pad;
        self.len = start + bytes.len();
        Ok(start..self.len)
    }

    /// Map what was written; `Bytes` over each appended range.
    pub fn finish(self) -> Result<impl Fn(Range<usize>) -> Bytes> {
        let tmp = std::env::temp_dir();
        let file = self.file.into_inner().map_err(|e| Error::io(e.into_error(), &tmp))?;
        // An empty file cannot be mapped: every range is then empty too.
        let map = if self.len == 0 {
            None
        } else {
            // SAFETY: the file is ours alone (unnamed) and complete; the map is read-only.
            Some(Arc::new(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(e, &tmp))?))
        };
        Ok(move |range: Range<usize>| match &map {
            Some(map) => Bytes::Scratch { map: map.clone(), range },
            None => Bytes::Owned(Arc::from(Vec::new())),
        })
    }
}
