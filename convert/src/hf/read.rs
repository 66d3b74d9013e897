//! An HF/fla folder back into the canonical model: config.json for the family, every
//! `*.safetensors` file (single or sharded) mapped, names mapped back through the HF column of the
//! architecture tables. fla's older packed `attn.x_x` [6, C] is split into x_r … x_g.

use crate::arch::hf::to_blink;
use crate::arch::transform::Transform;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::{Read, Source};
use crate::tensor::{Bytes, Tensor};
use crate::vocab::{SourceVocab, Vocab};
use std::path::Path;
use std::sync::Arc;

fn dtype(s: &str) -> Option<DType> {
    Some(match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        _ => return None,
    })
}

/// The canonical tensors of an HF folder.
pub fn read(dir: &Path) -> Result<Read> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(e, dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::not_rwkv("the folder has no .safetensors files").at(dir));
    }
    let mut tensors = Vec::new();
    let mut total = 0u64;
    for path in &files {
        let map = crate::torch::map_file(path)?;
        total += map.len() as u64;
        let n = u64::from_le_bytes(
            map.get(..8).ok_or_else(|| Error::corrupt("truncated").at(path))?.try_into().expect("8"),
        );
        let header_end = usize::try_from(n).ok().and_then(|n| n.checked_add(8)).filter(|&e| e <= map.len());
        let header_end =
            header_end.ok_or_else(|| Error::corrupt(format!("header of {n} bytes runs past the file")).at(path))?;
        let header: serde_json::Value = serde_json::from_slice(&map[8..header_end])
            .map_err(|e| Error::corrupt(format!("header is not JSON: {e}")).at(path))?;
        let entries = header.as_object().ok_or_else(|| Error::corrupt("header is not an object").at(path))?;
        for (name, info) in entries.iter().filter(|(k, _)| *k != "__metadata__") {
            let err = |m: String| Error::corrupt(m).tensor(name).at(path);
            let dt = info["dtype"]
                .as_str()
                .and_then(dtype)
                .ok_or_else(|| err(format!("unsupported dtype {}", info["dtype"])))?;
            let shape: Vec<usize> = info["shape"]
                .as_array()
                .ok_or_else(|| err("no shape".into()))?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .and_then(|d| usize::try_from(d).ok())
                        .ok_or_else(|| err(format!("shape {} has an entry that is not a size", info["shape"])))
                })
                .collect::<Result<_>>()?;
            let offs: Vec<usize> = info["data_offsets"]
                .as_array()
                .ok_or_else(|| err("no offsets".into()))?
                .iter()
                .filter_map(|d| d.as_u64().map(|d| d as usize))
                .collect();
            let (start, end) = match offs.as_slice() {
                [a, b] if a <= b => (header_end + a, header_end + b),
                _ => return Err(err("bad data_offsets".into())),
            };
            let want = shape.iter().try_fold(dt.size(), |a, &d| a.checked_mul(d));
            if end > map.len() || want != Some(end - start) {
                return Err(err(format!(
                    "data_offsets [{start}, {end}) do not fit shape {shape:?} in a {}-byte file",
                    map.len()
                )));
            }
            tensors.push((name.clone(), dt, shape, Bytes::Mapped { map: map.clone(), range: start..end }));
        }
    }
    let mut out = Vec::with_capacity(tensors.len());
    for (name, dt, shape, data) in tensors {
        if let Some(layer) = name.strip_prefix("model.layers.").and_then(|r| r.strip_suffix(".attn.x_x")) {
            // fla's older layout: the six mixes packed as [6, C] in the order r, w, k, v, a, g.
            let c = match shape.as_slice() {
                [6, c] => *c,
                _ => {
                    return Err(Error::not_rwkv(format!(
                        "has shape {shape:?}; fla's packed token-shift mixes are [6, C]"
                    ))
                    .tensor(&name)
                    .at(dir))
                }
            };
            let n = c * dt.size();
            for (i, m) in ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"].iter().enumerate() {
                let part = Bytes::Owned(Arc::from(&data.as_slice()[i * n..(i + 1) * n]));
                out.push(Tensor {
                    name: format!("blocks.{layer}.att.{m}"),
                    dtype: dt,
                    shape: vec![1, 1, c],
                    data: part,
                });
            }
            continue;
        }
        let (blink, transposed) = to_blink(&name)
            .ok_or_else(|| Error::not_rwkv("no RWKV-4..7 HF layout has this tensor").tensor(&name).at(dir))?;
        let (shape, data) = if transposed && shape.len() == 2 {
            // The HF tensor is the written side of the row's transpose.
            let mut back = Transform::Transpose
                .invert_bytes(data.as_slice(), dt.size(), &shape, 1)
                .map_err(|e| e.tensor(&name).at(dir))?;
            (vec![shape[1], shape[0]], Bytes::Owned(Arc::from(back.remove(0))))
        } else {
            (shape, data)
        };
        out.push(Tensor { name: blink, dtype: dt, shape, data });
    }
    let family = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|c| c["model_type"].as_str().map(String::from))
        .unwrap_or_else(|| "unknown".into());
    Ok(Read { source: Source::Hf { model_type: family }, file_size: total, tensors: out, vocab: vocab(dir) })
}

/// The folder's tokenizer: `tokenizer.json` (byte-level BPE) or World's vocabulary file, when it
/// holds World's tokens (all of them, or the first ones of a test model).
fn vocab(dir: &Path) -> SourceVocab {
    let json = dir.join("tokenizer.json");
    let world = dir.join("rwkv_vocab_v20230424.txt");
    if json.is_file() {
        match Vocab::from_json_file(&json) {
            Ok(v) => SourceVocab::Known(v),
            Err(e) => SourceVocab::Unknown(e),
        }
    } else if world.is_file() {
        let ours = crate::vocab::world();
        match std::fs::read(&world).map_err(|e| e.to_string()).and_then(|t| crate::vocab::parse(&t)) {
            Ok(t) if t.len() <= ours.len() && t[..] == ours[..t.len()] => SourceVocab::Known(Vocab::World),
            Ok(t) => SourceVocab::Unknown(format!("rwkv_vocab_v20230424.txt with {} tokens unlike World's", t.len())),
            Err(e) => SourceVocab::Unknown(format!("rwkv_vocab_v20230424.txt: {e}")),
        }
    } else {
        SourceVocab::None
    }
}
