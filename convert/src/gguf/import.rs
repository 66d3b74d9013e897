//! GGUF → canonical model: the architecture's GGUF rows read backwards. Copies and stacks stay
//! zero-copy views of the file; transposes, permutes and rescales make owned tensors.

use super::reader::{GgufFile, TensorInfo};
use super::Value;
use crate::arch::gguf::{rows, Transform};
use crate::arch::{self, HParams, Version};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::{Read, Source};
use crate::tensor::{Bytes, Tensor};
use quantize::GgmlType;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn dtype_of(ty: GgmlType) -> Option<DType> {
    match ty {
        GgmlType::F32 => Some(DType::F32),
        GgmlType::F16 => Some(DType::F16),
        GgmlType::BF16 => Some(DType::BF16),
        _ => None,
    }
}

fn get_u(f: &GgufFile, key: &str) -> Result<usize> {
    f.get(key)
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .ok_or_else(|| Error::not_rwkv(format!("metadata key '{key}' is missing or not an integer")))
}

fn tensor<'a>(f: &'a GgufFile, name: &str) -> Result<&'a TensorInfo> {
    f.tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::not_rwkv("tensor is missing from the GGUF file").tensor(name))
}

/// Version and hyper-parameters from the metadata and a few shapes.
fn hparams(f: &GgufFile) -> Result<(Version, HParams)> {
    let arch = f
        .get("general.architecture")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::not_rwkv("no general.architecture"))?;
    let version = match arch {
        "rwkv4" => Version::V4,
        "rwkv5" => match f.get("rwkv5.version").and_then(Value::as_str) {
            Some("5.0") => Version::V5_0,
            Some("5.1") => Version::V5_1,
            _ => Version::V5_2,
        },
        "rwkv6" => Version::V6,
        "rwkv7" => Version::V7,
        other => return Err(Error::not_rwkv(format!("architecture '{other}' is not RWKV-4..7"))),
    };
    let k = |s: &str| format!("{arch}.{s}");
    let emb = tensor(f, "token_embd.weight")?.shape();
    let mut hp = HParams {
        n_layer: get_u(f, &k("block_count"))?,
        n_embd: get_u(f, &k("embedding_length"))?,
        vocab_size: emb[0],
        dim_ffn: get_u(f, &k("feed_forward_length"))?,
        ..HParams::default()
    };
    // Every block has several tensors: a block count beyond the tensor count is a lie, and would
    // make the tables below list millions of rows for a file of a few bytes.
    if hp.n_layer == 0 || hp.n_layer > f.tensors.len() {
        return Err(Error::corrupt(format!(
            "{arch}.block_count is {}, but the file holds {} tensors",
            hp.n_layer,
            f.tensors.len()
        )));
    }
    hp.dim_att = tensor(f, "blk.0.time_mix_key.weight")?.shape()[0];
    for key in crate::arch::gguf::hp_keys(version) {
        key.read(version, f.get(&k(key.name())), &mut hp)?;
    }
    Ok((version, hp))
}

/// A quantized tensor's values as little-endian f32 bytes, in one buffer, blocks in parallel.
fn dequantize_le(ty: GgmlType, bytes: &[u8]) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if ts == 0 || bytes.len() % ts != 0 {
        return Err(Error::corrupt(format!("{} bytes are not whole {ty} blocks", bytes.len())));
    }
    const BLOCKS: usize = 256;
    let mut out = vec![0u8; bytes.len() / ts * bs * 4];
    out.par_chunks_mut(BLOCKS * bs * 4).zip(bytes.par_chunks(BLOCKS * ts)).try_for_each(|(o, b)| {
        let y = quantize::dequantize(ty, b).map_err(|e| Error::unsupported(e.0))?;
        o.chunks_exact_mut(4).zip(&y).for_each(|(o, v)| o.copy_from_slice(&v.to_le_bytes()));
        Ok(())
    })?;
    Ok(out)
}

/// The canonical tensors of a GGUF file.
pub fn from_file(f: &GgufFile) -> Result<Read> {
    let (version, hp) = hparams(f)?;
    let rescale_every = f.get("rwkv6.rescale_every_n_layers").and_then(Value::as_u64).unwrap_or(0) as usize;
    let specs: HashMap<String, Vec<usize>> = arch::table(version, &hp).into_iter().map(|s| (s.name, s.shape)).collect();
    let mut out: Vec<Tensor> = Vec::new();
    let mut made: HashSet<String> = HashSet::new();
    let mut used: HashSet<&str> = HashSet::new();
    for row in rows(version, &hp) {
        // Layer 0's v0/v1/v2 are copies of a0/a1/a2 that llama.cpp's loader wants; skip them.
        if row.sources.iter().all(|s| made.contains(s)) {
            used.insert(tensor(f, &row.gguf).map(|t| t.name.as_str())?);
            continue;
        }
        let info = tensor(f, &row.gguf)?;
        used.insert(info.name.as_str());
        // The divisor of a rescaled matrix is 2^(layer / rescale_every), as the file's metadata says.
        let transform = match row.transform {
            Transform::Rescale(_) => {
                let layer: usize = row.sources[0].split('.').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                Transform::Rescale(layer.checked_div(rescale_every).unwrap_or(0) as u32)
            }
            t => t,
        };
        let want_elems: usize =
            row.sources.iter().map(|s| specs.get(s).map(|sh| sh.iter().product::<usize>()).unwrap_or(0)).sum();
        // Quantized matrices stay as stored (a rescaled one records its 2^k in the dtype, so its
        // blocks need not change); float tensors stay in the map. Only a quantized tensor that a
        // layout transform must move (never written by llama.cpp) is dequantized, here, once.
        if dtype_of(info.ty).is_none() {
            if let (Transform::Copy | Transform::Rescale(_), [src]) = (transform, &row.sources[..]) {
                // The rescale's 2^k goes into the dtype (checked to fit f32 by `divisor`).
                let exp2 = match transform {
                    Transform::Rescale(k) => transform.divisor().map(|_| k as i32)?,
                    _ => 0,
                };
                let shape = specs[src].clone();
                let dtype = DType::Quant { ty: info.ty, exp2 };
                let ne0 = shape.last().copied().unwrap_or(0);
                let rows = want_elems / ne0.max(1);
                if dtype.row_bytes(ne0).map(|r| r * rows) != Some(info.range.len()) {
                    return Err(Error::not_rwkv(format!(
                        "has {} bytes, expected {want_elems} values",
                        info.range.len()
                    ))
                    .tensor(&info.name));
                }
                out.push(Tensor {
                    name: src.clone(),
                    dtype,
                    shape,
                    data: Bytes::Mapped { map: f.map.clone(), range: info.range.clone() },
                });
                made.insert(src.clone());
                continue;
            }
        }
        let (dtype, owned): (DType, Option<Arc<Vec<u8>>>) = match dtype_of(info.ty) {
            Some(d) => (d, None),
            None => {
                (DType::F32, Some(Arc::new(dequantize_le(info.ty, f.bytes(info)).map_err(|e| e.tensor(&info.name))?)))
            }
        };
        let es = dtype.size();
        let (base, mut offset): (&[u8], usize) = match &owned {
            Some(o) => (o, 0),
            None => (&f.map[..], info.range.start),
        };
        let len = owned.as_ref().map_or(info.range.len(), |o| o.len());
        if len != want_elems * es {
            return Err(Error::not_rwkv(format!("has {len} bytes, expected {want_elems} values")).tensor(&info.name));
        }
        // Copies and stacks invert to views of the file (each source is a slice of the written
        // tensor); the others are inverted through the row's transform into owned tensors.
        let mut inverted = match transform {
            Transform::Copy | Transform::Stack => None,
            Transform::Rescale(_) => {
                let written = crate::dtype::to_f32(dtype, &base[offset..offset + len])?;
                let back = transform.invert(&written, &row.shape, 1).map_err(|e| e.tensor(&info.name))?;
                let ty = if owned.is_some() { GgmlType::F32 } else { info.ty };
                Some(back.iter().map(|v| crate::emit::encode(v, ty)).collect::<Vec<_>>())
            }
            _ => Some(
                transform
                    .invert_bytes(&base[offset..offset + len], es, &row.shape, row.sources.len())
                    .map_err(|e| e.tensor(&info.name))?,
            ),
        }
        .map(|v| v.into_iter());
        for src in &row.sources {
            let shape = specs[src].clone();
            let n = shape.iter().product::<usize>() * es;
            let data = match (&mut inverted, &owned) {
                (Some(parts), _) => Bytes::Owned(Arc::from(parts.next().expect("one part per source"))),
                (None, None) => Bytes::Mapped { map: f.map.clone(), range: offset..offset + n },
                (None, Some(o)) => Bytes::Shared { buf: o.clone(), range: offset..offset + n },
            };
            offset += n;
            out.push(Tensor { name: src.clone(), dtype, shape, data });
            made.insert(src.clone());
        }
    }
    let extra: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).filter(|n| !used.contains(n)).collect();
    if !extra.is_empty() {
        return Err(Error::not_rwkv(format!("tensors that no {version} model has: {}", extra.join(", "))));
    }
    let source = Source::Gguf { arch: crate::arch::gguf::arch_name(version).into() };
    Ok(Read { source, file_size: f.map.len() as u64, tensors: out, vocab: super::tokenizer::read(f) })
}
