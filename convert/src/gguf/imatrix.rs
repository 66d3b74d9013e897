//! Importance matrices as llama.cpp's `llama-imatrix` writes them, read as llama-quantize reads
//! them (`common/imatrix-loader.cpp`): the GGUF format (`<tensor>.in_sum2` and `<tensor>.counts`,
//! normalised by the rounded counts) or the legacy `.dat` stream (sums divided by the call count).

use super::reader::GgufFile;
use super::Value;
use crate::error::{Error, Result, ResultExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Imatrix {
    pub path: PathBuf,
    /// Per tensor: one importance value per input column (per expert for MoE tensors).
    pub entries: HashMap<String, Vec<f32>>,
    pub datasets: Vec<String>,
    pub chunk_count: u32,
}

impl Imatrix {
    pub fn load(path: &Path) -> Result<Imatrix> {
        let map = crate::torch::map_file(path)?;
        if map.starts_with(super::MAGIC) {
            Self::from_gguf(&GgufFile::from_map(path, map)?).at(path)
        } else {
            Self::legacy(path, &map).at(path)
        }
    }

    fn from_gguf(f: &GgufFile) -> Result<Imatrix> {
        let mut sums: HashMap<String, Vec<f32>> = HashMap::new();
        let mut counts: HashMap<String, Vec<f32>> = HashMap::new();
        for t in &f.tensors {
            let vals = || -> Result<Vec<f32>> {
                if t.ty != quantize::GgmlType::F32 {
                    return Err(Error::corrupt("imatrix tensors must be F32").tensor(&t.name));
                }
                crate::dtype::to_f32(crate::DType::F32, f.bytes(t))
            };
            if let Some(name) = t.name.strip_suffix(".in_sum2") {
                sums.insert(name.to_string(), vals()?);
            } else if let Some(name) = t.name.strip_suffix(".counts") {
                counts.insert(name.to_string(), vals()?);
            }
        }
        let mut entries = HashMap::new();
        for (name, s) in sums {
            let c = counts.get(&name).ok_or_else(|| Error::corrupt("no .counts for this .in_sum2").tensor(&name))?;
            if c.is_empty() || s.len() % c.len() != 0 {
                return Err(Error::corrupt(format!("{} sums for {} counts", s.len(), c.len())).tensor(&name));
            }
            let ne0 = s.len() / c.len();
            let mut e = vec![0f32; s.len()];
            for (j, &count) in c.iter().enumerate() {
                let count = count.round() as i64 as f32;
                for i in 0..ne0 {
                    e[j * ne0 + i] = if count > 0.0 { s[j * ne0 + i] / count } else { 1.0 };
                }
            }
            entries.insert(name, e);
        }
        let datasets = match f.get("imatrix.datasets") {
            Some(Value::Array(8, items)) => items.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        };
        let chunk_count = f.get("imatrix.chunk_count").and_then(Value::as_u64).unwrap_or(0) as u32;
        if entries.is_empty() {
            return Err(Error::corrupt("GGUF file holds no imatrix entries (`*.in_sum2`)"));
        }
        Ok(Imatrix { path: f.path.clone(), entries, datasets, chunk_count })
    }

    fn legacy(path: &Path, b: &[u8]) -> Result<Imatrix> {
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let s =
                b.get(pos..pos + n).ok_or_else(|| Error::corrupt(format!("legacy imatrix truncated at byte {pos}")))?;
            pos += n;
            Ok(s)
        };
        let i32_at = |s: &[u8]| i32::from_le_bytes(s.try_into().expect("4 bytes"));
        let n = i32_at(take(4)?);
        if n < 1 || n as usize > b.len() / 12 {
            return Err(Error::corrupt(format!("not an imatrix: {n} entries")));
        }
        let mut entries = HashMap::new();
        for _ in 0..n {
            let len = i32_at(take(4)?);
            let len = usize::try_from(len).map_err(|_| Error::corrupt("negative name length"))?;
            let name = String::from_utf8_lossy(take(len)?).into_owned();
            let ncall = i32_at(take(4)?);
            let nval = usize::try_from(i32_at(take(4)?))
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| Error::corrupt("bad value count").tensor(&name))?;
            let raw = take(nval.checked_mul(4).ok_or_else(|| Error::corrupt("value count overflows"))?)?;
            let vals: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            let e = if ncall > 0 { vals.iter().map(|v| v / ncall as f32).collect() } else { vals };
            entries.insert(name, e);
        }
        let (mut chunk_count, mut datasets) = (0, Vec::new());
        if let Ok(c) = take(4) {
            chunk_count = i32_at(c).max(0) as u32;
            if let Ok(l) = take(4) {
                let l = i32_at(l);
                if l > 0 {
                    if let Ok(d) = take(l as usize) {
                        datasets.push(String::from_utf8_lossy(d).into_owned());
                    }
                }
            }
        }
        Ok(Imatrix { path: path.to_path_buf(), entries, datasets, chunk_count })
    }
}

/// One matrix's statistics to save: its GGUF tensor name, Σx² per input column, tokens seen.
pub struct ImatrixEntry {
    pub name: String,
    pub sum_sq: Vec<f32>,
    pub count: f32,
}

/// The entries of a model's importance matrix from statistics per BlinkDL tensor (`stats(name)`:
/// Σx² per input column and the token count): one per GGUF matrix that llama.cpp multiplies by
/// activations, as llama-imatrix records them, the big matrices and the LoRA factors, under its
/// GGUF name. The statistics are per input column, so they are the same whether the file stores
/// a factor transposed or not, and a rescaled matrix (RWKV-6 `time_mix_output`,
/// `channel_mix_value`: W / 2^k in the file) sees the same inputs: the rescale divides the weight.
/// `output.weight` only with `process_output`. Every matrix llama.cpp quantizes must have its
/// entry: a gap, which would quantize it unweighted, is an error.
pub fn entries<'s>(
    model: &crate::Model,
    stats: impl Fn(&str) -> Option<(&'s [f64], u64)>,
    process_output: bool,
) -> Result<Vec<ImatrixEntry>> {
    use crate::arch::gguf::{rows, GgufRow, Transform};
    let names = rows(model.version, &model.hparams);
    let one_matrix = |r: &&GgufRow| {
        r.sources.len() == 1 && matches!(r.transform, Transform::Copy | Transform::Rescale(_) | Transform::Transpose)
    };
    let mut out = Vec::new();
    // A source written twice (RWKV-7 layer 0's v1/v2 placeholders, copies of a1/a2 that no
    // product uses) gets its entry under its first name only.
    let mut seen = std::collections::HashSet::new();
    for row in names.iter().filter(one_matrix) {
        if !seen.insert(row.sources[0].as_str()) || (row.gguf == "output.weight" && !process_output) {
            continue;
        }
        let ne0 = row.shape.last().copied().unwrap_or(0);
        if let Some((sum_sq, count)) = stats(&row.sources[0]).filter(|(s, _)| s.len() == ne0) {
            out.push(ImatrixEntry {
                name: row.gguf.clone(),
                sum_sq: sum_sq.iter().map(|&v| v as f32).collect(),
                count: count as f32,
            });
        }
    }
    let ne = |r: &GgufRow| r.shape.iter().rev().map(|&d| d as u64).collect::<Vec<u64>>();
    for row in names.iter().filter(|r| quantize::ftype::allows_quantization(&r.gguf, &ne(r))) {
        let skip = row.gguf == "token_embd.weight" || (row.gguf == "output.weight" && !process_output);
        if !skip && !out.iter().any(|e| e.name == row.gguf) {
            return Err(Error::corrupt(format!(
                "the engine recorded no activations for '{}' (from '{}')",
                row.gguf,
                row.sources.join("+")
            ))
            .at(&model.path));
        }
    }
    if out.is_empty() {
        return Err(Error::corrupt("no weight matrix saw any activation").at(&model.path));
    }
    Ok(out)
}

/// Save statistics in llama-imatrix's GGUF format (`tools/imatrix/imatrix.cpp`, `save_imatrix`):
/// `general.type = imatrix`, the datasets, chunk count and size, then per matrix
/// `<name>.in_sum2` [ne0, 1] and `<name>.counts` [1, 1], both F32, in name order.
pub fn write_gguf(
    path: &Path,
    entries: &[ImatrixEntry],
    datasets: &[String],
    chunk_count: u32,
    chunk_size: u32,
    force: bool,
) -> Result<()> {
    let mut w = super::GgufWriter::new();
    w.add("general.type", Value::Str("imatrix".into()));
    w.add("imatrix.datasets", Value::strings(datasets.iter().cloned()));
    w.add("imatrix.chunk_count", Value::U32(chunk_count));
    w.add("imatrix.chunk_size", Value::U32(chunk_size));
    let f32_bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut sorted: Vec<&ImatrixEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut tensors = Vec::new();
    for e in sorted {
        let (sums, count) = (f32_bytes(e.sum_sq.clone()), f32_bytes(vec![e.count]));
        tensors.push(super::PendingTensor {
            name: format!("{}.in_sum2", e.name),
            ne: vec![e.sum_sq.len() as u64, 1],
            ty: quantize::GgmlType::F32,
            data: Box::new(move |sink| sink.put(&sums)),
        });
        tensors.push(super::PendingTensor {
            name: format!("{}.counts", e.name),
            ne: vec![1, 1],
            ty: quantize::GgmlType::F32,
            data: Box::new(move |sink| sink.put(&count)),
        });
    }
    w.write(path, force, &tensors, |_| {})
}
