//! A release folder's `manifest.json`: every file with its size, blake3 and sha256 (the digest
//! hubs show), what made it, and what it measured. `verify --manifest` checks it; `release` reads
//! it to skip work already done.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Digests {
    pub bytes: u64,
    pub blake3: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub file: String,
    #[serde(flatten)]
    pub digests: Digests,
    /// What made the file (type, options, source and tool identity); a rerun with another recipe
    /// remakes it.
    pub recipe: String,
    /// Another file of the release with exactly these tensor bytes (only the file type differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_tensors_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<super::quality::Measured>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub tool: String,
    pub name: String,
    pub source: Option<SourceEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    pub file: String,
    #[serde(flatten)]
    pub digests: Digests,
    /// Adapters merged into the source (`--lora`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<AdapterEntry>,
}

/// A LoRA/PiSSA adapter merged into a release's source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdapterEntry {
    pub file: String,
    pub blake3: String,
    /// `lora` or `pissa`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    /// A PiSSA adapter's init file, and its blake3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<(String, String)>,
}

pub const FILE: &str = "manifest.json";

/// Both digests of a file in one streamed pass.
pub fn digest(path: &Path) -> Result<Digests> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut b3, mut sha) = (blake3::Hasher::new(), sha2::Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        b3.update(&buf[..n]);
        sha.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Digests { bytes, blake3: b3.finalize().to_hex().to_string(), sha256: format!("{:x}", sha.finalize()) })
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let p = dir.join(FILE);
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: not a release manifest", p.display()))?))
    }

    /// Write the manifest and the `SHA256SUMS` / `B3SUMS` files that `sha256sum -c` and
    /// `b3sum -c` read, each atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let write = |name: &str, text: String| -> Result<()> {
            let mut f = convert::output::AtomicFile::create(&dir.join(name), true)?;
            f.write_all(text.as_bytes())?;
            Ok(f.finish()?)
        };
        write(FILE, serde_json::to_string_pretty(self)? + "\n")?;
        let sums = |pick: fn(&Digests) -> &str| -> String {
            self.files.iter().map(|e| format!("{}  {}\n", pick(&e.digests), e.file)).collect()
        };
        write("SHA256SUMS", sums(|d| &d.sha256))?;
        write("B3SUMS", sums(|d| &d.blake3))
    }

    pub fn entry(&self, file: &str) -> Option<&FileEntry> {
        self.files.iter().find(|e| e.file == file)
    }

    pub fn upsert(&mut self, entry: FileEntry) {
        match self.files.iter_mut().find(|e| e.file == entry.file) {
            Some(e) => *e = entry,
            None => self.files.push(entry),
        }
    }
}

/// One file's check against its entry.
#[derive(Debug, Serialize)]
pub struct Check {
    pub file: String,
    pub ok: bool,
    pub problem: Option<String>,
}

/// Check every file of the manifest in `dir`.
pub fn check(dir: &Path) -> Result<Vec<Check>> {
    let m = Manifest::load(dir)?.with_context(|| format!("{}: no {FILE}", dir.display()))?;
    let mut out = Vec::new();
    for e in &m.files {
        let p = dir.join(&e.file);
        let problem = if !p.exists() {
            Some("missing".to_string())
        } else {
            let d = digest(&p)?;
            if d.bytes != e.digests.bytes {
                Some(format!("{} bytes, the manifest says {}", d.bytes, e.digests.bytes))
            } else if d.blake3 != e.digests.blake3 {
                Some(format!("blake3 {} differs from the manifest's {}", d.blake3, e.digests.blake3))
            } else if d.sha256 != e.digests.sha256 {
                Some(format!("sha256 {} differs from the manifest's {}", d.sha256, e.digests.sha256))
            } else {
                None
            }
        };
        out.push(Check { file: e.file.clone(), ok: problem.is_none(), problem });
    }
    Ok(out)
}
