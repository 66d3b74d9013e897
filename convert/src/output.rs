//! Output files appear only when complete: written under a temporary name in the destination
//! folder, synced, then renamed. An existing file is replaced only when asked to.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path, force: bool) -> Result<AtomicFile> {
        if path.exists() && !force {
            return Err(Error::new(crate::ErrorKind::Io, "already exists; pass --force to overwrite it").at(path));
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(e, &tmp))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.writer.as_mut().expect("open until finished");
        w.write_all(bytes).map_err(|e| Error::io(e, &self.path))
    }

    /// Flush, sync and move into place.
    pub fn finish(mut self) -> Result<()> {
        let w = self.writer.take().expect("open until finished");
        let file = w.into_inner().map_err(|e| Error::io(e.into_error(), &self.path))?;
        file.sync_all().map_err(|e| Error::io(e, &self.path))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(e, &self.path))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("open until finished").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("open until finished").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Stream `range` of the file at `path` into `sink` through one buffer: a read(2) copy per chunk,
/// no page faults and nothing left mapped (cheaper than walking a map for bytes written as they
/// are).
pub fn stream_file_range(path: &Path, range: std::ops::Range<usize>, sink: &mut crate::gguf::Sink) -> Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 4 << 20;
    let f = File::open(path).map_err(|e| Error::io(e, path))?;
    let mut buf = vec![0u8; CHUNK.min(range.len())];
    let mut at = range.start;
    while at < range.end {
        let n = CHUNK.min(range.end - at);
        #[cfg(unix)]
        f.read_exact_at(&mut buf[..n], at as u64).map_err(|e| Error::io(e, path))?;
        #[cfg(not(unix))]
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut r = &f;
            r.seek(SeekFrom::Start(at as u64))
                .and_then(|_| r.read_exact(&mut buf[..n]))
                .map_err(|e| Error::io(e, path))?;
        }
        sink(&buf[..n])?;
        at += n;
    }
    Ok(())
}
