//! Canonical model → GGUF, through the GGUF rows of its architecture table. For RWKV-6 and RWKV-7
//! the names, shapes, dtypes and metadata are those llama.cpp's own conversion produces
//! (`convert_hf_to_gguf.py` on the HF/fla checkpoint); RWKV-4/5 use our documented layouts.

use super::{GgufWriter, PendingTensor, Value};
use crate::arch::gguf::{arch_name, hp_keys, rows, GgufRow, Transform};
use crate::arch::Version;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::Sink;
use quantize::GgmlType;

/// The float output types `convert --to gguf` writes directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    F32,
    F16,
    BF16,
}

impl OutType {
    pub fn parse(s: &str) -> Option<OutType> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Some(OutType::F32),
            "f16" => Some(OutType::F16),
            "bf16" => Some(OutType::BF16),
            _ => None,
        }
    }
    pub fn ggml(self) -> GgmlType {
        match self {
            OutType::F32 => GgmlType::F32,
            OutType::F16 => GgmlType::F16,
            OutType::BF16 => GgmlType::BF16,
        }
    }
    /// `general.file_type` (llama.h `LLAMA_FTYPE_*`).
    pub fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::F16 => 1,
            OutType::BF16 => 32,
        }
    }
}

fn u32v(v: usize) -> Value {
    Value::U32(v as u32)
}

/// Key-values in the order llama.cpp's converter writes them.
pub fn metadata(model: &Model, outtype: OutType, name: &str) -> Result<Vec<(String, Value)>> {
    let hp = &model.hparams;
    let arch = arch_name(model.version);
    let k = |s: &str| format!("{arch}.{s}");
    let mut kv: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::Str(arch.into())),
        ("general.type".into(), Value::Str("model".into())),
    ];
    if model.version == Version::V6 {
        // The RWKV organisation's HF RWKV-6 generation_config, which llama.cpp's converter reads.
        kv.push(("general.sampling.top_k".into(), Value::I32(0)));
        kv.push(("general.sampling.top_p".into(), Value::F32(0.1)));
        kv.push(("general.sampling.penalty_repeat".into(), Value::F32(1.0)));
    }
    let params: u64 = rows(model.version, hp).iter().map(|r| r.shape.iter().product::<usize>() as u64).sum();
    kv.extend([
        ("general.name".into(), Value::Str(name.into())),
        ("general.size_label".into(), Value::Str(size_label(params))),
        (k("context_length"), Value::U32(1_048_576)),
        (k("embedding_length"), u32v(hp.n_embd)),
        (k("block_count"), u32v(hp.n_layer)),
        (k("attention.layer_norm_epsilon"), Value::F32(1e-5)),
    ]);
    if model.version == Version::V7 && hp.deep_embed.is_some() {
        return Err(Error::unsupported(
            "RWKV-7 DeepEmbed has no GGUF layout: llama.cpp does not implement its per-token FFN tables",
        ));
    }
    kv.extend(hp_keys(model.version).iter().map(|key| (k(key.name()), key.value(model.version, hp))));
    kv.push((k("feed_forward_length"), u32v(hp.dim_ffn)));
    kv.push(("general.file_type".into(), Value::U32(outtype.file_type())));
    kv.push((k("attention.head_count"), Value::U32(0)));
    kv.push(("general.quantization_version".into(), Value::U32(2)));
    kv.extend(super::tokenizer::key_values(&model.tokenizer()?, hp.vocab_size));
    Ok(kv)
}

/// gguf-py's `model_weight_count_rounded_notation(n, min_digits=2)`: "585K", "191M", "1.5B".
pub fn size_label(n: u64) -> String {
    let n = n as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    let digits = format!("{}", scaled.round() as u64).trim_start_matches('0').len();
    let fix = 2usize.saturating_sub(digits);
    format!("{scaled:.fix$}{suffix}")
}

/// Stream the bytes of one row in `ty` into `sink`: copies and stacks source by source through
/// [`crate::emit::tensor_bytes`]; other transforms (small tensors: LoRAs, rescaled matrices) and
/// quantized sources (from a quantized GGUF) whole through [`crate::emit::transformed`].
pub fn row_bytes(model: &Model, row: &GgufRow, ty: GgmlType, sink: &mut dyn Sink) -> Result<()> {
    let sources: Vec<&crate::Tensor> = row
        .sources
        .iter()
        .map(|n| model.get(n).ok_or_else(|| Error::not_rwkv("tensor is missing").tensor(n)))
        .collect::<Result<_>>()?;
    if !matches!(row.transform, Transform::Copy | Transform::Stack) || sources.iter().any(|t| t.dtype.is_quant()) {
        return crate::emit::transformed(model, &sources, row.transform, &row.shape, ty, &row.gguf, sink);
    }
    sources.iter().try_for_each(|t| crate::emit::tensor_bytes(model, t, ty, sink))
}

/// The rows in the order llama.cpp's converter emits them: it walks the HF checkpoint's tensors
/// (fla's safetensors for RWKV-7, in name order; the RWKV org's state dict for RWKV-6, in module
/// order) and writes each GGUF tensor as soon as all its sources have been seen. Layer 0's
/// value-residual placeholders come just before the a0/a1/a2 they copy.
pub fn ordered_rows(model: &Model) -> Vec<GgufRow> {
    let all = rows(model.version, &model.hparams);
    let walk: Vec<String> = match model.version {
        Version::V7 => {
            let mut hf = crate::arch::hf::rows(model.version, &model.hparams).unwrap_or_default();
            hf.sort_by(|a, b| a.hf.cmp(&b.hf));
            hf.into_iter().map(|r| r.source).collect()
        }
        _ => crate::arch::table(model.version, &model.hparams).into_iter().map(|s| s.name).collect(),
    };
    // Order of the source tensors actually present (the file's order for RWKV-4/5/6).
    let walk: Vec<String> = match model.version {
        Version::V7 => walk,
        _ => model.tensors.iter().map(|t| t.name.clone()).filter(|n| walk.contains(n)).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    let mut emitted = vec![false; all.len()];
    // Placeholders (sources already used by another row) go before the row they copy.
    let copies: Vec<usize> = (0..all.len()).filter(|&i| all[..i].iter().any(|r| r.sources == all[i].sources)).collect();
    let mut out = Vec::with_capacity(all.len());
    for name in walk {
        seen.insert(name);
        for pass in [true, false] {
            for (i, row) in all.iter().enumerate() {
                if !emitted[i] && copies.contains(&i) == pass && row.sources.iter().all(|s| seen.contains(s)) {
                    emitted[i] = true;
                    out.push(row.clone());
                }
            }
        }
    }
    out.extend(all.into_iter().zip(emitted).filter(|(_, e)| !e).map(|(r, _)| r));
    out
}

/// The float type quantized files of `model` are made from: the source's own 16/32-bit type, as
/// llama.cpp's converter writes it before llama-quantize runs; bf16 for other sources.
pub fn base_outtype(model: &Model) -> OutType {
    match model.main_dtype() {
        Some(crate::DType::F16) => OutType::F16,
        Some(crate::DType::F32) => OutType::F32,
        _ => OutType::BF16,
    }
}

/// The float GGUF (in [`base_outtype`]) that quantized files of `model` are made from, written to
/// a temporary file in `dir` (removed when the returned path is dropped, or on an interrupt);
/// `progress(i)` after tensor `i` of `total(n)`.
pub fn write_base(
    model: &Model,
    dir: &std::path::Path,
    name: &str,
    total: impl FnOnce(usize),
    progress: impl FnMut(usize),
) -> Result<crate::output::TempPath> {
    let tmp = crate::output::TempPath::new(dir.join(format!(".{name}.base-{}.gguf", std::process::id())));
    let (writer, tensors) = plan(model, base_outtype(model), name)?;
    total(tensors.len());
    writer.write(tmp.path(), true, &tensors, progress)?;
    Ok(tmp)
}

/// Everything a GGUF file of `model` holds, ready to stream out.
pub fn plan<'a>(model: &'a Model, outtype: OutType, name: &str) -> Result<(GgufWriter, Vec<PendingTensor<'a>>)> {
    let mut writer = GgufWriter::new();
    writer.kv = metadata(model, outtype, name)?;
    let tensors = ordered_rows(model)
        .into_iter()
        .map(|row| {
            let ty = if row.f32 { GgmlType::F32 } else { outtype.ggml() };
            let ne = row.shape.iter().rev().map(|&d| d as u64).collect();
            PendingTensor {
                name: row.gguf.clone(),
                ne,
                ty,
                data: Box::new(move |sink: &mut dyn Sink| row_bytes(model, &row, ty, sink)),
            }
        })
        .collect();
    Ok((writer, tensors))
}
