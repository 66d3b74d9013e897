//! GGUF → GGUF in another file type, as `llama-quantize` does it: llama.cpp's per-tensor type
//! rules, its key and tensor order, and ggml's reference quantizers (bit-exact). Rows are
//! quantized in parallel, and each row's bytes depend only on that row.

use super::reader::{GgufFile, TensorInfo};
use super::{GgufWriter, PendingTensor, Value};
use crate::error::{Error, Result};
use quantize::ftype::{n_dims, tensor_type, FileType, Overrides};
use quantize::GgmlType;
use rayon::prelude::*;
use std::path::Path;

/// (layer, name): llama-quantize writes non-block tensors first, then layer by layer.
fn order_key(name: &str) -> (i64, &str) {
    let layer = name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|n| n.parse().ok()).unwrap_or(-1);
    (layer, name)
}

/// The type each tensor gets.
pub fn plan_types(f: &GgufFile, ftype: FileType, o: &Overrides) -> Vec<(usize, GgmlType)> {
    let mut idx: Vec<usize> = (0..f.tensors.len()).collect();
    idx.sort_by(|&a, &b| order_key(&f.tensors[a].name).cmp(&order_key(&f.tensors[b].name)));
    idx.into_iter()
        .map(|i| {
            let t = &f.tensors[i];
            (i, tensor_type(&t.name, &t.ne, ftype, o).unwrap_or(t.ty))
        })
        .collect()
}

/// Convert one tensor's bytes to `ty` into `sink`: batches of row blocks quantized in parallel,
/// written in order, the input's pages released behind them.
pub fn convert_tensor(
    f: &GgufFile,
    t: &TensorInfo,
    ty: GgmlType,
    qw: Option<&[f32]>,
    sink: &mut dyn crate::output::Sink,
) -> Result<()> {
    let src = f.bytes(t);
    let release = |start: usize, len: usize| {
        #[cfg(unix)]
        // SAFETY: read-only file map; dropped pages are re-read unchanged if touched again.
        let _ = unsafe { f.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, t.range.start + start, len) };
    };
    if ty == t.ty {
        for (i, c) in src.chunks(1 << 20).enumerate() {
            sink.put(c)?;
            release(i << 20, c.len());
        }
        return Ok(());
    }
    let ne0 = t.ne[0] as usize;
    let in_row = t.ty.row_bytes(ne0).ok_or_else(|| Error::corrupt("row is not whole blocks").tensor(&t.name))?;
    let out_row = ty
        .row_bytes(ne0)
        .ok_or_else(|| Error::unsupported(format!("rows of {ne0} are not whole {ty} blocks")).tensor(&t.name))?;
    // About 16k values per task, as llama-quantize chunks its work; 64 tasks per batch.
    let per_task = (16384 / ne0).max(1);
    let batch_rows = per_task * 64;
    for (b, s) in src.chunks(batch_rows * in_row).enumerate() {
        let rows = s.len() / in_row;
        let mut out = vec![0u8; rows * out_row];
        out.par_chunks_mut(per_task * out_row).zip(s.par_chunks(per_task * in_row)).try_for_each(
            |(o, s)| -> Result<()> {
                let x = quantize::dequantize(t.ty, s).map_err(|e| Error::unsupported(e.0).tensor(&t.name))?;
                if let Some(bad) = x.iter().position(|v| !v.is_finite()) {
                    return Err(Error::corrupt(format!("value {bad} is not finite ({})", x[bad])).tensor(&t.name));
                }
                // ggml's IQ1 searches overflow on values near f32's limit and abort (a negative
                // scale); no model weight is that large, so refuse rather than crash.
                if matches!(ty, GgmlType::IQ1S | GgmlType::IQ1M) {
                    if let Some(bad) = x.iter().position(|v| v.abs() > 1e18) {
                        return Err(Error::unsupported(format!(
                            "value {bad} ({}) is too large for {ty}: ggml's search overflows and aborts on it",
                            x[bad]
                        ))
                        .tensor(&t.name));
                    }
                }
                let q = match qw {
                    Some(w) => x
                        .chunks(ne0)
                        .map(|row| quantize::codec::quantize_row_weighted(ty, row, w))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map(|rows| rows.concat()),
                    None => quantize::quantize(ty, &x),
                }
                .map_err(|e| Error::unsupported(e.0).tensor(&t.name))?;
                o.copy_from_slice(&q);
                Ok(())
            },
        )?;
        sink.put(&out)?;
        release(b * batch_rows * in_row, s.len());
    }
    Ok(())
}

/// The importance data of each planned tensor (indexed like `f.tensors`), checked as
/// llama-quantize checks it: without an imatrix, a file type whose plan has a tensor that requires
/// one is refused before anything is written; with one, an entry of the wrong length is an error
/// (except for the token embedding), and a tensor that requires an entry and has none is refused.
fn check_imatrix<'a>(f: &GgufFile, r: &Recipe<'a>, plan: &[(usize, GgmlType)]) -> Result<Vec<Option<&'a [f32]>>> {
    let mut out = vec![None; f.tensors.len()];
    let how = "make one with `rwkv-convert imatrix MODEL --text CALIBRATION.txt -o imatrix.gguf` \
               (or let `release --calibrate TEXT` make it) and pass --imatrix";
    for &(i, ty) in plan {
        let t = &f.tensors[i];
        let requires = quantize::ftype::allows_quantization(&t.name, &t.ne)
            && quantize::ftype::requires_imatrix(&t.name, ty, r.ftype);
        let Some(im) = r.imatrix else {
            if requires {
                return Err(Error::unsupported(format!(
                    "{} quantizes this tensor to {ty}, which requires an importance matrix; {how}",
                    r.ftype.name()
                ))
                .tensor(&t.name));
            }
            continue;
        };
        if ty == t.ty {
            continue;
        }
        match im.entries.get(&t.name) {
            Some(w) if w.len() == t.ne[0] as usize => out[i] = Some(w.as_slice()),
            Some(w) if t.name != "token_embd.weight" => {
                return Err(Error::corrupt(format!(
                    "the importance matrix {} has {} values for this tensor, whose rows have {}: \
                     it was made for another model",
                    im.path.display(),
                    w.len(),
                    t.ne[0]
                ))
                .tensor(&t.name))
            }
            _ if requires => {
                return Err(Error::unsupported(format!(
                "{ty} needs importance data for this tensor, and the importance matrix {} has no entry for it; {how}",
                im.path.display()
            ))
                .tensor(&t.name))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Write `f` re-typed as `ftype` to `out`.
pub fn write(
    f: &GgufFile,
    out: &Path,
    ftype: FileType,
    o: &Overrides,
    force: bool,
    progress: impl FnMut(usize),
) -> Result<Vec<(String, GgmlType)>> {
    write_with(f, out, ftype, o, None, force, progress)
}

/// Write `f` re-typed as `ftype`, using `imatrix` where it has an entry of the tensor's row length.
pub fn write_with(
    f: &GgufFile,
    out: &Path,
    ftype: FileType,
    o: &Overrides,
    imatrix: Option<&super::imatrix::Imatrix>,
    force: bool,
    progress: impl FnMut(usize),
) -> Result<Vec<(String, GgmlType)>> {
    write_mixed(f, out, ftype, o, &[], imatrix, force, progress)
}

/// The number of blocks the file's metadata declares (`{arch}.block_count`).
fn block_count(f: &GgufFile) -> usize {
    let arch = f.get("general.architecture").and_then(Value::as_str).unwrap_or_default().to_string();
    f.get(&format!("{arch}.block_count")).and_then(Value::as_u64).unwrap_or(0) as usize
}

/// Everything that decides a quantized file's bytes besides its input.
pub struct Recipe<'a> {
    pub ftype: FileType,
    pub overrides: Overrides,
    /// Extra per-tensor rules over the file type's own (RWKV-aware mixes; with none the bytes are
    /// llama-quantize's).
    pub rules: &'a [quantize::ftype::MixRule],
    pub imatrix: Option<&'a super::imatrix::Imatrix>,
}

/// The type of every tensor of `f` under `r`, in output order.
pub fn recipe_plan(f: &GgufFile, r: &Recipe) -> Vec<(usize, GgmlType)> {
    let n_layer = block_count(f);
    plan_types(f, r.ftype, &r.overrides)
        .into_iter()
        .map(|(i, ty)| {
            let t = &f.tensors[i];
            (i, if ty == t.ty { ty } else { quantize::ftype::mix_type(r.rules, &t.name, &t.ne, n_layer, ty) })
        })
        .collect()
}

/// [`write_with`], with extra per-tensor `rules` over the file type's own.
#[allow(clippy::too_many_arguments)]
pub fn write_mixed(
    f: &GgufFile,
    out: &Path,
    ftype: FileType,
    o: &Overrides,
    rules: &[quantize::ftype::MixRule],
    imatrix: Option<&super::imatrix::Imatrix>,
    force: bool,
    progress: impl FnMut(usize),
) -> Result<Vec<(String, GgmlType)>> {
    write_recipe(f, out, &Recipe { ftype, overrides: *o, rules, imatrix }, None, force, progress)
}

/// Write `f` quantized by `r`. A `twin` is an earlier output of the same input whose plan gives
/// every tensor the same type with the same importance data (llama.cpp's Q4_K_S and Q4_K_M, or
/// IQ3_XS and IQ3_M, on RWKV): its tensor bytes are exactly what quantizing again would make
/// (each depends only on the input tensor, the type and the weights), so they are copied.
pub fn write_recipe(
    f: &GgufFile,
    out: &Path,
    r: &Recipe,
    twin: Option<&GgufFile>,
    force: bool,
    progress: impl FnMut(usize),
) -> Result<Vec<(String, GgmlType)>> {
    let (ftype, imatrix) = (r.ftype, r.imatrix);
    let mut writer = GgufWriter::new();
    writer.kv =
        f.kv.iter().filter(|(k, _)| k != "general.quantization_version" && k != "general.file_type").cloned().collect();
    writer.kv.push(("general.quantization_version".into(), Value::U32(2)));
    let file_type = match ftype {
        FileType::Copy => f.get("general.file_type").and_then(Value::as_u64).ok_or_else(|| {
            Error::unsupported("COPY keeps the input's general.file_type, and this file has none").at(&f.path)
        })? as u32,
        _ => ftype.id(),
    };
    writer.kv.push(("general.file_type".into(), Value::U32(file_type)));
    if let Some(im) = imatrix {
        // What llama-quantize records about the importance matrix, after the file type.
        writer.kv.push((
            "quantize.imatrix.file".into(),
            Value::Str(im.path.display().to_string().chars().take(127).collect()),
        ));
        if let Some(d) = im.datasets.first() {
            writer.kv.push(("quantize.imatrix.dataset".into(), Value::Str(d.chars().take(127).collect())));
        }
        writer.kv.push(("quantize.imatrix.entries_count".into(), Value::U32(im.entries.len() as u32)));
        if im.chunk_count > 0 {
            writer.kv.push(("quantize.imatrix.chunks_count".into(), Value::U32(im.chunk_count)));
        }
    }
    let plan = recipe_plan(f, r);
    if let Some(&(i, ty)) = plan.iter().find(|(_, ty)| !quantize::codec::is_supported(*ty)) {
        return Err(Error::unsupported(format!("quantizing to {ty} is not implemented yet")).tensor(&f.tensors[i].name));
    }
    // A row that is not whole blocks of a type without a fallback (Q1_0), refused as llama.cpp does.
    if let Some(&(i, ty)) =
        plan.iter().find(|&&(i, ty)| ty != f.tensors[i].ty && ty.row_bytes(f.tensors[i].ne[0] as usize).is_none())
    {
        return Err(Error::unsupported(format!(
            "rows of {} values are not whole {ty} blocks of {}, and llama.cpp defines no fallback type for {ty}",
            f.tensors[i].ne[0],
            ty.block_size()
        ))
        .tensor(&f.tensors[i].name));
    }
    let weights = check_imatrix(f, r, &plan)?;
    let tensors: Vec<PendingTensor> = plan
        .iter()
        .map(|&(i, ty)| {
            let t = &f.tensors[i];
            let dims = n_dims(&t.ne);
            let qw = weights[i];
            PendingTensor {
                name: t.name.clone(),
                ne: t.ne[..dims].to_vec(),
                ty,
                data: Box::new(move |sink: &mut dyn crate::output::Sink| {
                    let same =
                        twin.and_then(|g| g.tensors.iter().find(|u| u.name == t.name && u.ty == ty).map(|u| (g, u)));
                    match same {
                        Some((g, u)) => g.bytes(u).chunks(1 << 20).try_for_each(|c| sink.put(c)),
                        None => convert_tensor(f, t, ty, qw, sink),
                    }
                }),
            }
        })
        .collect();
    writer.write(out, force, &tensors, progress)?;
    Ok(plan.iter().map(|&(i, ty)| (f.tensors[i].name.clone(), ty)).collect())
}
