//! HF/fla folders: write the layouts transformers (RWKV-4), the RWKV organisation's remote code
//! (RWKV-5.2/6) and flash-linear-attention (RWKV-7) load, streaming tensor by tensor; and read
//! such folders back into the canonical model.

pub mod config;
pub mod read;
pub mod safetensors_out;

use crate::arch::gguf::Transform;
use crate::arch::hf::{rows, HfRow};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::Sink;
use safetensors_out::StTensor;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfDtype {
    Keep,
    F32,
    F16,
    BF16,
}

impl HfDtype {
    pub fn parse(s: &str) -> Option<HfDtype> {
        Some(match s.to_ascii_lowercase().as_str() {
            "keep" => HfDtype::Keep,
            "f32" | "float32" => HfDtype::F32,
            "f16" | "float16" => HfDtype::F16,
            "bf16" | "bfloat16" => HfDtype::BF16,
            _ => return None,
        })
    }
    fn resolve(self, source: DType) -> DType {
        match self {
            HfDtype::Keep => source,
            HfDtype::F32 => DType::F32,
            HfDtype::F16 => DType::F16,
            HfDtype::BF16 => DType::BF16,
        }
    }
}

pub struct HfOptions {
    pub dtype: HfDtype,
    /// Shard past this many bytes (decimal, as huggingface_hub counts them).
    pub max_shard_bytes: u64,
    pub force: bool,
    /// Folder with the target's remote code (`*.py`) to copy alongside (we ship none of it).
    pub remote_code_dir: Option<PathBuf>,
    /// RWKV-4's `context_length` in config.json (default 1024, as the Pile folders say).
    pub context_length: Option<usize>,
}

fn st_dtype(d: DType) -> Result<&'static str> {
    match d {
        DType::F32 => Ok("F32"),
        DType::F16 => Ok("F16"),
        DType::BF16 => Ok("BF16"),
        other => Err(Error::unsupported(format!("{other} tensors cannot be written to an HF folder"))),
    }
}

/// Stream one row's bytes in `out` dtype: transposes (small LoRA matrices) and quantized blocks
/// (from a quantized GGUF) whole through [`crate::emit::transformed`], laid out as the row says;
/// everything else through [`crate::emit::tensor_bytes`].
fn row_bytes(model: &Model, row: &HfRow, out: DType, sink: &mut dyn Sink) -> Result<()> {
    let t = model.get(&row.source).ok_or_else(|| Error::not_rwkv("tensor is missing").tensor(&row.source))?;
    let ty = out.ggml_equivalent().expect("float dtype");
    if row.transform == Transform::Transpose || t.dtype.is_quant() {
        return crate::emit::transformed(model, &[t], row.transform, &row.shape, ty, &row.hf, sink);
    }
    crate::emit::tensor_bytes(model, t, ty, sink)?;
    t.data.release_pages();
    Ok(())
}

/// Write the folder; returns the files written. On an error, the files this call wrote are
/// removed again, and the folder too when this call created it (each file is written atomically,
/// so nothing half-written is ever left).
pub fn write_folder(
    model: &Model,
    dir: &Path,
    opts: &HfOptions,
    progress: impl FnMut(usize, usize),
) -> Result<Vec<PathBuf>> {
    let created = !dir.exists();
    let mut written = Vec::new();
    let result = write_folder_files(model, dir, opts, progress, &mut written);
    if result.is_err() {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        if created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result.map(|()| written)
}

fn write_folder_files(
    model: &Model,
    dir: &Path,
    opts: &HfOptions,
    mut progress: impl FnMut(usize, usize),
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let rows = rows(model.version, &model.hparams).map_err(|e| e.at(&model.path))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(e, dir))?;
    // Hash the source for the provenance file on another thread while the tensors are written.
    let source = model.path.clone();
    let hashing = std::thread::spawn(move || config::hash_file(&source));
    let mut tensors = Vec::with_capacity(rows.len());
    for row in &rows {
        let src = model.get(&row.source).ok_or_else(|| Error::not_rwkv("tensor is missing").tensor(&row.source))?;
        let dtype = opts.dtype.resolve(src.dtype);
        let n_bytes = row.shape.iter().product::<usize>() * dtype.size();
        tensors.push(StTensor {
            name: row.hf.clone(),
            dtype: st_dtype(dtype)?,
            shape: row.shape.clone(),
            n_bytes,
            data: Box::new(move |sink: &mut dyn Sink| row_bytes(model, row, dtype, sink)),
        });
    }
    // Shards as huggingface_hub cuts them: in module order, a new shard when the next tensor
    // would pass the limit.
    let mut shards: Vec<Vec<StTensor>> = vec![Vec::new()];
    let mut size = 0u64;
    for t in tensors {
        if size > 0 && size + t.n_bytes as u64 > opts.max_shard_bytes {
            shards.push(Vec::new());
            size = 0;
        }
        size += t.n_bytes as u64;
        shards.last_mut().expect("non-empty").push(t);
    }
    let n = shards.len();
    let total: usize = shards.iter().flatten().map(|t| t.n_bytes).sum();
    let count: usize = shards.iter().map(Vec::len).sum();
    let mut done = 0;
    let mut weight_map = std::collections::BTreeMap::new();
    for (i, mut shard) in shards.into_iter().enumerate() {
        let name = if n == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, n)
        };
        safetensors_out::layout_order(&mut shard);
        for t in &shard {
            weight_map.insert(t.name.clone(), name.clone());
        }
        let path = dir.join(&name);
        safetensors_out::write(&path, opts.force, &shard, || {
            done += 1;
            progress(done, count);
        })?;
        written.push(path);
    }
    let mut text_files: Vec<(String, Vec<u8>)> = Vec::new();
    if n > 1 {
        let map: Vec<String> =
            weight_map.iter().map(|(k, v)| format!("    {}: {}", serde_json::json!(k), serde_json::json!(v))).collect();
        let index = format!(
            "{{\n  \"metadata\": {{\n    \"total_size\": {total}\n  }},\n  \"weight_map\": {{\n{}\n  }}\n}}\n",
            map.join(",\n")
        );
        text_files.push(("model.safetensors.index.json".into(), index.into_bytes()));
    }
    let hash = hashing.join().map_err(|_| Error::corrupt("the hashing thread panicked"))??;
    text_files.extend(config::files(model, opts, hash)?);
    for (name, bytes) in text_files {
        let path = dir.join(&name);
        let mut f = crate::output::AtomicFile::create(&path, opts.force)?;
        f.write_all(&bytes)?;
        f.finish()?;
        written.push(path);
    }
    if let Some(code) = &opts.remote_code_dir {
        for entry in std::fs::read_dir(code).map_err(|e| Error::io(e, code))? {
            let p = entry.map_err(|e| Error::io(e, code))?.path();
            if p.extension().is_some_and(|e| e == "py") {
                let to = dir.join(p.file_name().expect("a file"));
                std::fs::copy(&p, &to).map_err(|e| Error::io(e, &to))?;
                written.push(to);
            }
        }
    }
    Ok(())
}
