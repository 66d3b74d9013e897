//! The streaming emitter both writers (GGUF, HF safetensors) use for a tensor's bytes, with the
//! checks every written weight passes: finite, and within range of the output type.

use crate::arch::transform::Transform;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::Sink;
use crate::tensor::Bytes;
use crate::Tensor;
use half::{bf16, f16};
use quantize::GgmlType;

/// One tensor's bytes in the float type `ty`, a chunk at a time. Copies in the source's own type
/// pass through: from the file in the kernel when the tensor is mapped from it. Other conversions
/// go through f32. Source pages are released behind, so about one chunk stays resident.
pub fn tensor_bytes(model: &Model, t: &Tensor, ty: GgmlType, sink: &mut dyn Sink) -> Result<()> {
    const CHUNK: usize = 1 << 20;
    let es = t.dtype.size();
    let same = t.dtype.ggml_equivalent() == Some(ty);
    if let (true, Bytes::Mapped { range, .. }, true) = (same, &t.data, model.path.is_file()) {
        return crate::output::copy_file_range_checked(&model.path, range.clone(), sink, |chunk, at| {
            check_finite(model, t, chunk, at / es)
        });
    }
    let bytes = t.bytes();
    for (i, chunk) in bytes.chunks(CHUNK / es * es).enumerate() {
        check_finite(model, t, chunk, i * (CHUNK / es))?;
        if same {
            sink.put(chunk)?;
        } else {
            let values = crate::dtype::to_f32(t.dtype, chunk).map_err(|e| e.tensor(&t.name))?;
            check_fits(model, t, &values, i * (CHUNK / es), ty)?;
            sink.put(&encode(&values, ty))?;
        }
        t.data.release_part(i * (CHUNK / es * es), chunk.len());
    }
    Ok(())
}

/// A tensor made whole from `sources` by `transform` (written shape `shape`, `name` in messages):
/// the small ones that are transposed, permuted or rescaled, and any made from quantized blocks.
/// A layout change of sources already in `ty` moves their bytes; anything else goes through f32.
/// Each source is checked as [`tensor_bytes`] checks it; their pages are released after.
pub fn transformed(
    model: &Model,
    sources: &[&Tensor],
    transform: Transform,
    shape: &[usize],
    ty: GgmlType,
    name: &str,
    sink: &mut dyn Sink,
) -> Result<()> {
    let moved = matches!(transform, Transform::Transpose | Transform::Permute021)
        && sources.iter().all(|t| t.dtype.ggml_equivalent() == Some(ty));
    let mut values = Vec::with_capacity(sources.len());
    for t in sources {
        check_finite(model, t, t.bytes(), 0)?;
        if !moved {
            let v = t.to_f32()?;
            check_fits(model, t, &v, 0, ty)?;
            values.push(v);
        }
    }
    let bytes = if moved {
        let bytes: Vec<&[u8]> = sources.iter().map(|t| t.bytes()).collect();
        transform.apply_bytes(&bytes, sources[0].dtype.size(), shape)
    } else {
        // The written shape decides the layout, not the source's squeezed one: a LoRA of rank 1
        // ([C, 1]) squeezes to one dimension.
        let refs: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
        transform.apply(&refs, shape).map(|v| encode(&v, ty))
    }
    .map_err(|e| e.tensor(name))?;
    sink.put(&bytes)?;
    sources.iter().for_each(|t| t.data.release_pages());
    Ok(())
}

/// Little-endian bytes of `values` in a float GGUF type.
pub fn encode(values: &[f32], ty: GgmlType) -> Vec<u8> {
    let size = if matches!(ty, GgmlType::F16 | GgmlType::BF16) { 2 } else { 4 };
    let mut out = vec![0u8; values.len() * size];
    encode_into(values, ty, &mut out);
    out
}

/// [`encode`] into `out` (exactly as long as the bytes).
pub fn encode_into(values: &[f32], ty: GgmlType, out: &mut [u8]) {
    match ty {
        GgmlType::F16 => values
            .iter()
            .zip(out.chunks_exact_mut(2))
            .for_each(|(&v, o)| o.copy_from_slice(&f16::from_f32(v).to_le_bytes())),
        GgmlType::BF16 => values
            .iter()
            .zip(out.chunks_exact_mut(2))
            .for_each(|(&v, o)| o.copy_from_slice(&bf16::from_f32(v).to_le_bytes())),
        _ => values.iter().zip(out.chunks_exact_mut(4)).for_each(|(v, o)| o.copy_from_slice(&v.to_le_bytes())),
    }
}

/// Refuse source bytes holding NaN or an infinity: a model with such a weight computes NaN, and
/// the file would only spread a diverged or damaged checkpoint. `first` is the index of the
/// chunk's first element in the tensor.
pub fn check_finite(model: &Model, t: &crate::Tensor, bytes: &[u8], first: usize) -> Result<()> {
    match crate::dtype::first_non_finite(t.dtype, bytes) {
        None => Ok(()),
        Some((i, v)) => Err(Error::corrupt(format!(
            "element {} is {v}: the checkpoint holds non-finite weights (a diverged or damaged model); \
             refusing to write them",
            first + i
        ))
        .tensor(&t.name)
        .at(&model.path)),
    }
}

/// Refuse f32 values that would turn into infinities in `out` (only f16 is narrower in range
/// than the source types).
pub fn check_fits(model: &Model, t: &crate::Tensor, values: &[f32], first: usize, out: GgmlType) -> Result<()> {
    if out != GgmlType::F16 || t.dtype == crate::DType::F16 {
        return Ok(());
    }
    // The largest value that rounds to a finite f16 is just below 65520.
    match values.iter().position(|v| v.abs() >= 65520.0) {
        None => Ok(()),
        Some(i) => Err(Error::unsupported(format!(
            "element {} is {}, which does not fit f16 (largest 65504) and would become infinite; \
             write bf16 or f32 instead",
            first + i,
            values[i]
        ))
        .tensor(&t.name)
        .at(&model.path)),
    }
}
