//! One entry point per direction: quantize or dequantize whole rows of any supported type.

use crate::types::GgmlType;
use crate::{iq1, iq2, iq3, iq4nl, kquants, legacy, lowbit, mxfp4, prim, q2k_q3k};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

type Quantizer = fn(&[f32], &mut [u8]);
type Dequantizer = fn(&[u8], &mut [f32]);

fn iq4_nl_block(x: &[f32], out: &mut [u8]) {
    iq4nl::quantize_iq4_nl(x, out, None)
}

fn iq4_xs_block(x: &[f32], out: &mut [u8]) {
    iq4nl::quantize_iq4_xs(x, out, None)
}

fn iq3_xxs_block(x: &[f32], out: &mut [u8]) {
    iq3::quantize_iq3_xxs(x, out, None)
}

fn iq3_s_block(x: &[f32], out: &mut [u8]) {
    iq3::quantize_iq3_s(x, out, None)
}

fn iq2_s_block(x: &[f32], out: &mut [u8]) {
    iq2::quantize_iq2_s(x, out, None)
}

fn iq1_m_block(x: &[f32], out: &mut [u8]) {
    iq1::quantize_iq1_m(x, out, None)
}

/// ggml's `ggml_quantize_requires_imatrix` (IQ2_XXS, IQ2_XS, IQ1_S): types it quantizes only
/// with importance weights (use [`quantize_row_weighted`]).
pub fn requires_weights(ty: GgmlType) -> bool {
    block_fns(ty).is_some_and(|(q, _)| q.is_none())
}

/// The block functions of a type, when it is implemented: its quantizer without importance
/// weights (none for the types ggml quantizes only with them) and its dequantizer.
fn block_fns(ty: GgmlType) -> Option<(Option<Quantizer>, Dequantizer)> {
    let (q, d): (Quantizer, Dequantizer) = match ty {
        GgmlType::Q8_0 => (legacy::quantize_q8_0, legacy::dequantize_q8_0),
        GgmlType::Q4_0 => (legacy::quantize_q4_0, legacy::dequantize_q4_0),
        GgmlType::Q4_1 => (legacy::quantize_q4_1, legacy::dequantize_q4_1),
        GgmlType::Q5_0 => (legacy::quantize_q5_0, legacy::dequantize_q5_0),
        GgmlType::Q5_1 => (legacy::quantize_q5_1, legacy::dequantize_q5_1),
        GgmlType::Q2K => (q2k_q3k::quantize_q2_k, q2k_q3k::dequantize_q2_k),
        GgmlType::Q3K => (q2k_q3k::quantize_q3_k, q2k_q3k::dequantize_q3_k),
        GgmlType::Q4K => (kquants::quantize_q4_k, kquants::dequantize_q4_k),
        GgmlType::Q5K => (kquants::quantize_q5_k, kquants::dequantize_q5_k),
        GgmlType::Q6K => (kquants::quantize_q6_k, kquants::dequantize_q6_k),
        GgmlType::IQ4NL => (iq4_nl_block, iq4nl::dequantize_iq4_nl),
        GgmlType::IQ4XS => (iq4_xs_block, iq4nl::dequantize_iq4_xs),
        GgmlType::TQ1_0 => (lowbit::quantize_tq1_0, lowbit::dequantize_tq1_0),
        GgmlType::TQ2_0 => (lowbit::quantize_tq2_0, lowbit::dequantize_tq2_0),
        GgmlType::Q1_0 => (lowbit::quantize_q1_0, lowbit::dequantize_q1_0),
        GgmlType::Q2_0 => (lowbit::quantize_q2_0, lowbit::dequantize_q2_0),
        GgmlType::MXFP4 => (mxfp4::quantize_mxfp4, mxfp4::dequantize_mxfp4),
        GgmlType::IQ3XXS => (iq3_xxs_block, iq3::dequantize_iq3_xxs),
        GgmlType::IQ3S => (iq3_s_block, iq3::dequantize_iq3_s),
        GgmlType::IQ2S => (iq2_s_block, iq2::dequantize_iq2_s),
        GgmlType::IQ1M => (iq1_m_block, iq1::dequantize_iq1_m),
        GgmlType::IQ2XXS => return Some((None, iq2::dequantize_iq2_xxs)),
        GgmlType::IQ2XS => return Some((None, iq2::dequantize_iq2_xs)),
        GgmlType::IQ1S => return Some((None, iq1::dequantize_iq1_s)),
        _ => return None,
    };
    Some((Some(q), d))
}

pub fn is_supported(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) || block_fns(ty).is_some()
}

/// Quantize `x` (whole rows; a multiple of the block size) into `ty`'s bytes.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, CodecError> {
    let bytes =
        ty.row_bytes(x.len()).ok_or_else(|| CodecError(format!("{} values are not whole {ty} blocks", x.len())))?;
    let mut out = vec![0u8; bytes];
    quantize_into(ty, x, &mut out)?;
    Ok(out)
}

/// Quantize `x` into `out`, which must hold exactly `ty.row_bytes(x.len())` bytes.
pub fn quantize_into(ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), CodecError> {
    if ty.row_bytes(x.len()) != Some(out.len()) {
        return Err(CodecError(format!("{} bytes for {} {ty} values", out.len(), x.len())));
    }
    match ty {
        GgmlType::F32 => out.iter_mut().zip(x.iter().flat_map(|v| v.to_le_bytes())).for_each(|(o, b)| *o = b),
        GgmlType::F16 => x.iter().zip(out.chunks_exact_mut(2)).for_each(|(v, o)| o.copy_from_slice(&prim::to_f16(*v))),
        GgmlType::BF16 => {
            x.iter().zip(out.chunks_exact_mut(2)).for_each(|(v, o)| o.copy_from_slice(&prim::to_bf16(*v)))
        }
        _ => {
            let (q, _) = block_fns(ty).ok_or_else(|| CodecError(format!("quantizing to {ty} is not implemented")))?;
            let q = q.ok_or_else(|| CodecError(format!("ggml quantizes {ty} only with importance weights")))?;
            let (bs, ts) = (ty.block_size(), ty.type_size());
            for (xb, ob) in x.chunks_exact(bs).zip(out.chunks_exact_mut(ts)) {
                q(xb, ob);
            }
        }
    }
    Ok(())
}

/// Quantize one row with importance weights (one per column, as in llama.cpp's imatrix), by
/// ggml's weighted paths. Types without one (Q8_0, the float types) ignore the weights.
pub fn quantize_row_weighted(ty: GgmlType, x: &[f32], qw: &[f32]) -> Result<Vec<u8>, CodecError> {
    if qw.len() != x.len() {
        return Err(CodecError(format!("{} importance weights for a row of {}", qw.len(), x.len())));
    }
    let bytes =
        ty.row_bytes(x.len()).ok_or_else(|| CodecError(format!("{} values are not whole {ty} blocks", x.len())))?;
    let mut out = vec![0u8; bytes];
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let blocks = |f: &dyn Fn(&[f32], &[f32], &mut [u8]), out: &mut Vec<u8>| {
        for ((xb, wb), ob) in x.chunks_exact(bs).zip(qw.chunks_exact(bs)).zip(out.chunks_exact_mut(ts)) {
            f(xb, wb, ob);
        }
    };
    match ty {
        GgmlType::Q4_0 => legacy::quantize_q4_0_q5_0_row_weighted(x, qw, false, &mut out),
        GgmlType::Q5_0 => legacy::quantize_q4_0_q5_0_row_weighted(x, qw, true, &mut out),
        GgmlType::Q4_1 => legacy::quantize_q4_1_q5_1_row_weighted(x, qw, false, &mut out),
        GgmlType::Q5_1 => legacy::quantize_q4_1_q5_1_row_weighted(x, qw, true, &mut out),
        GgmlType::Q2K => blocks(&|xb, wb, ob| q2k_q3k::quantize_q2_k_weighted(xb, ob, Some(wb)), &mut out),
        GgmlType::Q3K => blocks(&|xb, wb, ob| q2k_q3k::quantize_q3_k_weighted(xb, ob, Some(wb)), &mut out),
        GgmlType::Q4K => blocks(&|xb, wb, ob| kquants::quantize_q4_k_weighted(xb, ob, Some(wb)), &mut out),
        GgmlType::Q5K => blocks(&|xb, wb, ob| kquants::quantize_q5_k_weighted(xb, ob, Some(wb)), &mut out),
        GgmlType::Q6K => blocks(&|xb, wb, ob| kquants::quantize_q6_k_weighted(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ4XS => blocks(&|xb, wb, ob| iq4nl::quantize_iq4_xs(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ3XXS => blocks(&|xb, wb, ob| iq3::quantize_iq3_xxs(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ3S => blocks(&|xb, wb, ob| iq3::quantize_iq3_s(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ2XXS => blocks(&|xb, wb, ob| iq2::quantize_iq2_xxs(xb, ob, wb), &mut out),
        GgmlType::IQ2XS => blocks(&|xb, wb, ob| iq2::quantize_iq2_xs(xb, ob, wb), &mut out),
        GgmlType::IQ2S => blocks(&|xb, wb, ob| iq2::quantize_iq2_s(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ1S => blocks(&|xb, wb, ob| iq1::quantize_iq1_s(xb, ob, wb), &mut out),
        GgmlType::IQ1M => blocks(&|xb, wb, ob| iq1::quantize_iq1_m(xb, ob, Some(wb)), &mut out),
        GgmlType::IQ4NL => blocks(
            &|xb, wb, ob| {
                let sigma2 = 2.0 * xb.iter().fold(0f32, |a, &v| a + v * v) / 32.0;
                let w: Vec<f32> = xb.iter().zip(wb).map(|(&v, &q)| q * (sigma2 + v * v).sqrt()).collect();
                iq4nl::quantize_iq4_nl(xb, ob, Some(&w))
            },
            &mut out,
        ),
        _ => return quantize(ty, x),
    }
    Ok(out)
}

/// Dequantize `ty`'s bytes (whole blocks) to f32.
pub fn dequantize(ty: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, CodecError> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if bytes.len() % ts != 0 {
        return Err(CodecError(format!("{} bytes are not whole {ty} blocks", bytes.len())));
    }
    let mut y = vec![0f32; bytes.len() / ts * bs];
    dequantize_into(ty, bytes, &mut y)?;
    Ok(y)
}

/// [`dequantize`] into a caller's buffer of `bytes.len() / type_size * block_size` values.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], y: &mut [f32]) -> Result<(), CodecError> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if bytes.len() % ts != 0 || y.len() != bytes.len() / ts * bs {
        return Err(CodecError(format!("{} bytes are not whole {ty} blocks for {} values", bytes.len(), y.len())));
    }
    match ty {
        GgmlType::F32 => {
            y.iter_mut().zip(bytes.chunks_exact(4)).for_each(|(o, b)| *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        GgmlType::F16 => y.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(o, b)| *o = prim::from_f16(b)),
        GgmlType::BF16 => y.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(o, b)| *o = prim::from_bf16(b)),
        _ => {
            let (_, d) = block_fns(ty).ok_or_else(|| CodecError(format!("dequantizing {ty} is not implemented")))?;
            for (b, yb) in bytes.chunks_exact(ts).zip(y.chunks_exact_mut(bs)) {
                d(b, yb);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        let mut s = 0x2545F4914F6CDD1Du64;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    }

    /// Round trip error against each type's resolution: a sanity bound, not the bit-exactness
    /// check (that one uses ggml's own bytes in golden/quant).
    #[test]
    fn every_codec_round_trips_within_its_resolution() {
        let x = values(1024);
        let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        for (ty, rel) in [
            (GgmlType::F16, 1e-3),
            (GgmlType::BF16, 1e-2),
            (GgmlType::Q8_0, 0.01),
            (GgmlType::Q6K, 0.03),
            (GgmlType::Q5_0, 0.06),
            (GgmlType::Q5_1, 0.06),
            (GgmlType::Q5K, 0.06),
            (GgmlType::Q4_0, 0.12),
            (GgmlType::Q4_1, 0.12),
            (GgmlType::Q4K, 0.12),
            (GgmlType::IQ4NL, 0.12),
        ] {
            let y = dequantize(ty, &quantize(ty, &x).unwrap()).unwrap();
            let err = (x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / x.len() as f32).sqrt();
            assert!(err < rel * rms, "{ty}: rms error {err} vs signal {rms}");
        }
        assert!(quantize(GgmlType::Q4K, &x[..100]).is_err());
    }

    #[test]
    fn the_types_ggml_quantizes_only_with_weights_are_refused_without() {
        for ty in [GgmlType::IQ2XXS, GgmlType::IQ2XS, GgmlType::IQ1S] {
            assert!(requires_weights(ty));
            let err = quantize(ty, &[0.5; 256]).unwrap_err();
            assert!(err.0.contains("only with importance weights"), "{err}");
            assert!(quantize_row_weighted(ty, &[0.5; 256], &[1.0; 256]).is_ok());
        }
        assert!(!requires_weights(GgmlType::IQ2S) && !requires_weights(GgmlType::IQ1M));
    }
}
