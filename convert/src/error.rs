//! One error type for every reader: it names the file, the tensor (when one is involved) and
//! what is wrong, so a person can act on it.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem this is; tests and callers match on it, people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The operating system said no (missing file, permissions, ...).
    Io,
    /// The bytes are not what the format says they must be (truncated, corrupted, inconsistent).
    Corrupt,
    /// The file asks for something we never do, e.g. a pickle global outside the allowlist.
    Refused,
    /// A well-formed file that this tool does not handle (a dtype, a container variant, ...).
    Unsupported,
    /// A readable checkpoint whose tensors are not an RWKV-4..7 model.
    NotRwkv,
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub path: Option<PathBuf>,
    pub tensor: Option<String>,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, path: None, tensor: None, message: message.into() }
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    pub fn not_rwkv(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotRwkv, message)
    }
    pub fn io(err: std::io::Error, path: &Path) -> Self {
        Self::new(ErrorKind::Io, err.to_string()).at(path)
    }
    /// Attach the file, unless a more specific one is already named.
    pub fn at(mut self, path: &Path) -> Self {
        self.path.get_or_insert_with(|| path.to_path_buf());
        self
    }
    /// Attach the tensor, unless one is already named.
    pub fn tensor(mut self, name: &str) -> Self {
        self.tensor.get_or_insert_with(|| name.to_string());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(t) = &self.tensor {
            write!(f, "tensor '{t}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Extension to attach a path to any result on the way out of a reader.
pub trait ResultExt<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| e.at(path))
    }
}
