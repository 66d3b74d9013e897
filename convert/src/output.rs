//! Output files appear only when complete: written under a temporary name in the destination
//! folder, synced, then renamed. An existing file is replaced only when asked to.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Temporary files being written right now, so that an interrupt handler can remove them
/// (a process killed by a signal runs no destructors).
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove every temporary file still being written; for an interrupt (Ctrl-C) handler, just
/// before the process exits. Final names are never touched: they appear only when complete.
pub fn remove_temporaries() -> usize {
    let files = std::mem::take(&mut *live());
    files.iter().filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// A scratch file (e.g. the float GGUF a quantized one is made from): removed when dropped, and
/// by [`remove_temporaries`] on an interrupt.
pub struct TempPath(PathBuf);

impl TempPath {
    pub fn new(path: PathBuf) -> TempPath {
        live().push(path.clone());
        TempPath(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        live().retain(|p| p != &self.0);
    }
}

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
        live().push(tmp.clone());
        Ok(AtomicFile { path: path.to_path_buf(), tmp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.writer.as_mut().expect("open until finished");
        w.write_all(bytes).map_err(|e| Error::io(e, &self.path))
    }

    /// Flush, sync and move into place. When any of these fails (a full disk usually shows up at
    /// the last flush), the temporary file is removed: `Drop` no longer can, the writer is gone.
    pub fn finish(mut self) -> Result<()> {
        let w = self.writer.take().expect("open until finished");
        let done = w
            .into_inner()
            .map_err(|e| Error::io(e.into_error(), &self.path))
            .and_then(|file| file.sync_all().map_err(|e| Error::io(e, &self.path)))
            .and_then(|()| std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(e, &self.path)));
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        live().retain(|p| p != &self.tmp);
        done
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
            live().retain(|p| p != &self.tmp);
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
