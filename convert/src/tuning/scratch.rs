//! A scratch file for tensors a merge makes: sized up front, mapped, filled in place (no copy
//! through a buffer), then mapped read-only, so that a model with every matrix merged costs disk
//! (the temporary directory), not memory, and writers can let each tensor's pages go after it as
//! they do for the model's own file.

use crate::error::{Error, Result};
use crate::tensor::Bytes;
use memmap2::MmapMut;
use std::ops::Range;
use std::sync::Arc;

pub struct Scratch {
    map: Option<MmapMut>,
}

impl Scratch {
    /// Room for tensors of these byte sizes, each at a 64-byte boundary (as torch aligns
    /// storages); their ranges. The file is unnamed, in $TMPDIR: gone with the last map of it.
    pub fn new(sizes: &[usize]) -> Result<(Scratch, Vec<Range<usize>>)> {
        let mut ranges = Vec::with_capacity(sizes.len());
        let mut end = 0usize;
        for &n in sizes {
            let start = end.next_multiple_of(64);
            ranges.push(start..start + n);
            end = start + n;
        }
        if end == 0 {
            return Ok((Scratch { map: None }, ranges));
        }
        let tmp = std::env::temp_dir();
        let file = tempfile::tempfile().map_err(|e| Error::io(e, &tmp))?;
        file.set_len(end as u64).map_err(|e| Error::io(e, &tmp))?;
        // SAFETY: the file is ours alone (unnamed); nothing else maps or writes it.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::io(e, &tmp))?;
        Ok((Scratch { map: Some(map) }, ranges))
    }

    /// The bytes of `range`, to fill.
    pub fn slice(&mut self, range: Range<usize>) -> &mut [u8] {
        match &mut self.map {
            Some(map) => &mut map[range],
            None => &mut [],
        }
    }

    /// Let this process's pages of `range` go once it is written (the file keeps the bytes: a
    /// shared file map's written pages stay in the page cache, as a write would leave them).
    pub fn release(&self, range: Range<usize>) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            // SAFETY: a shared, file-backed map: dropped pages are re-read from the file with
            // what was written to them, and no slice of them is borrowed past this point.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len()) };
        }
    }

    /// Freeze what was written; `Bytes` over each range.
    pub fn finish(self) -> Result<impl Fn(Range<usize>) -> Bytes> {
        let map = match self.map {
            None => None,
            Some(m) => Some(Arc::new(m.make_read_only().map_err(|e| Error::io(e, &std::env::temp_dir()))?)),
        };
        Ok(move |range: Range<usize>| match &map {
            Some(map) => Bytes::Scratch { map: map.clone(), range },
            None => Bytes::Owned(Arc::from(Vec::new())),
        })
    }
}
