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
    /// Bytes handed to the file so far, and how many of them the disk has been asked to take.
    written: u64,
    flushed: u64,
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
        let writer = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(AtomicFile { path: path.to_path_buf(), tmp, writer, written: 0, flushed: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.writer.as_mut().expect("open until finished");
        w.write_all(bytes).map_err(|e| Error::io(e, &self.path))?;
        self.written += bytes.len() as u64;
        self.start_writeback();
        Ok(())
    }

    /// Every [`WRITEBACK`] bytes, ask the disk to start on what is written (without waiting for
    /// it), so that writing to the disk overlaps making the rest and the final `fsync` finds little
    /// left to do; waiting for it all at the end had made a 3 GB conversion the sum of the two.
    fn start_writeback(&mut self) {
        const WRITEBACK: u64 = 64 << 20;
        if self.written - self.flushed < WRITEBACK {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(w) = self.writer.as_mut() {
            if w.flush().is_ok() {
                use std::os::fd::AsRawFd;
                let (fd, from, len) = (w.get_ref().as_raw_fd(), self.flushed, self.written - self.flushed);
                // SAFETY: a plain syscall on our own open descriptor; its failure only loses the
                // overlap (the final fsync still makes the file durable).
                unsafe { libc::sync_file_range(fd, from as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE) };
            }
        }
        self.flushed = self.written;
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
        let n = self.writer.as_mut().expect("open until finished").write(buf)?;
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
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

/// What streams a tensor's bytes into a sink when its turn comes (so no tensor needs to be whole
/// in memory).
pub type TensorData<'a> = Box<dyn Fn(&mut dyn Sink) -> Result<()> + Send + Sync + 'a>;

/// Where a tensor's bytes go, piece by piece: bytes made here ([`Sink::put`]), or a range of a
/// file as it is ([`Sink::put_file_range`]), which a sink writing a file copies in the kernel.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
    /// Bytes `range` of `src` (the file at `path`, for messages), unchanged.
    fn put_file_range(&mut self, src: &File, path: &Path, range: std::ops::Range<usize>) -> Result<()> {
        read_pieces(src, path, range, |piece, _| self.put(piece))
    }
}

impl<F: FnMut(&[u8]) -> Result<()>> Sink for F {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self(bytes)
    }
}

/// A sink into an [`AtomicFile`]; [`FileSink::written`] is what it was given.
pub struct FileSink<'f> {
    file: &'f mut AtomicFile,
    start: u64,
}

impl<'f> FileSink<'f> {
    pub fn new(file: &'f mut AtomicFile) -> FileSink<'f> {
        let start = file.written;
        FileSink { file, start }
    }
    /// Bytes given to this sink so far.
    pub fn written(&self) -> usize {
        (self.file.written - self.start) as usize
    }
}

impl Sink for FileSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes)
    }
    fn put_file_range(&mut self, src: &File, path: &Path, range: std::ops::Range<usize>) -> Result<()> {
        self.file.copy_range(src, path, range)
    }
}

impl AtomicFile {
    /// Append bytes `range` of `src` as they are. On Linux `io::copy` between files is
    /// `copy_file_range`: the kernel moves page-cache pages, no trip through a user buffer (a
    /// 3 GB checkpoint written this way took about half the time of read-then-write).
    pub fn copy_range(&mut self, src: &File, path: &Path, range: std::ops::Range<usize>) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let w = self.writer.as_mut().expect("open until finished");
        w.flush().map_err(|e| Error::io(e, &self.path))?;
        let mut from = src;
        from.seek(SeekFrom::Start(range.start as u64)).map_err(|e| Error::io(e, path))?;
        let n = std::io::copy(&mut from.take(range.len() as u64), w.get_mut()).map_err(|e| Error::io(e, &self.path))?;
        if n != range.len() as u64 {
            return Err(Error::corrupt(format!("the file ended {} bytes early", range.len() as u64 - n)).at(path));
        }
        self.written += n;
        self.start_writeback();
        Ok(())
    }
}

/// Pieces in which file ranges are read (and checked) and copied: big enough that a call's cost
/// vanishes, small enough to stay in the page cache's hot end.
pub const COPY_CHUNK: usize = 4 << 20;

/// Bytes `range` of `f` (the file at `path`, for messages) through one buffer, [`COPY_CHUNK`] at a
/// time: `each(piece, offset of the piece in the range)`.
fn read_pieces(
    f: &File,
    path: &Path,
    range: std::ops::Range<usize>,
    mut each: impl FnMut(&[u8], usize) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; COPY_CHUNK.min(range.len())];
    let mut at = range.start;
    while at < range.end {
        let n = COPY_CHUNK.min(range.end - at);
        read_at(f, path, &mut buf[..n], at)?;
        each(&buf[..n], at - range.start)?;
        at += n;
    }
    Ok(())
}

/// Exactly `buf.len()` bytes of `f` at `at`.
pub fn read_at(f: &File, path: &Path, buf: &mut [u8], at: usize) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, at as u64).map_err(|e| Error::io(e, path))
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut r = f;
        r.seek(SeekFrom::Start(at as u64)).and_then(|_| r.read_exact(buf)).map_err(|e| Error::io(e, path))
    }
}

/// Bytes `range` of the file at `path`, as they are, into `sink`, each piece passing `check(piece,
/// offset in the range)`. The check reads the range through a buffer on a second thread (no
/// faults, nothing left mapped) while this one hands the sink the range piece by piece, which a
/// file sink copies in the kernel; the two overlap. A failed check is reported after the copy:
/// outputs are temporary files until finished, so nothing of a refused tensor is ever kept.
pub fn copy_file_range_checked(
    path: &Path,
    range: std::ops::Range<usize>,
    sink: &mut dyn Sink,
    mut check: impl FnMut(&[u8], usize) -> Result<()> + Send,
) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io(e, path))?;
    std::thread::scope(|s| {
        let (f, range_c) = (&f, range.clone());
        let checked = s.spawn(move || read_pieces(f, path, range_c, &mut check));
        let mut at = range.start;
        let mut copied = Ok(());
        while at < range.end && copied.is_ok() {
            let n = COPY_CHUNK.min(range.end - at);
            copied = sink.put_file_range(f, path, at..at + n);
            at += n;
        }
        checked.join().expect("the check does not panic").and(copied)
    })
}
