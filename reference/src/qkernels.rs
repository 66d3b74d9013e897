//! Dot products of f32 activations with rows of ggml blocks as a quantized GGUF stores them,
//! accumulated in f32 (activations are never quantized: the engine measures what the weights
//! lost). Fused AVX2 forms for the common types widen the integer codes in registers and scale
//! once per block or sub-block; the others dequantize 1024 values at a time into a buffer on the
//! stack. The plain form dequantizes the whole row; a test holds the fast forms to it.

use crate::kernels::{dot_f32, dot_plain, Float};

/// `Σ w[i]·x[i]` for a row of ggml blocks: blocks are dequantized 1024 values at a time into a
/// buffer on the stack (it stays in L1), and each buffer goes through [`crate::kernels::dot`];
/// the partial sums of the pieces are added in order.
pub fn dot_quant(ty: quantize::GgmlType, w: &[u8], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::kernels::x86_usable_f16() {
            // SAFETY: the CPU has the features the functions are compiled for (checked above).
            if let Some(s) = unsafe { x86_blocks::dot_blocks(ty, w, x) } {
                return s;
            }
        }
    }
    const PIECE: usize = 1024;
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let per = PIECE / bs;
    let mut buf = [0f32; PIECE];
    let mut s = 0f32;
    for (wb, xb) in w.chunks(per * ts).zip(x.chunks(per * bs)) {
        let piece = &mut buf[..xb.len()];
        quantize::codec::dequantize_into(ty, wb, piece).expect("whole blocks of a type the engine loaded");
        s += dot_f32(piece, xb);
    }
    s
}

/// The plain form of [`dot_quant`]: the whole row dequantized, then [`dot_plain`].
pub fn dot_quant_plain(ty: quantize::GgmlType, w: &[u8], x: &[f32]) -> f32 {
    let v = quantize::codec::dequantize(ty, w).expect("whole blocks");
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    dot_plain(Float::F32, &bytes, x)
}

/// The scale and min of sub-block `j` of a Q4_K block's packed 6-bit `scales` (ggml's
/// `get_scale_min_k4`).
#[inline]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_blocks {
    use super::scale_min_k4;
    use quantize::GgmlType;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn f16(b: &[u8]) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([b[0], b[1]]) as i32)))
    }

    /// Eight bytes at `p`, as u8 → f32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn u8x8(p: *const u8) -> __m256i {
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(v: __m256) -> f32 {
        let mut a = [0f32; 8];
        _mm256_storeu_ps(a.as_mut_ptr(), v);
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }

    /// Fused dot products for the common block types: the integer codes are widened in registers
    /// and each block's (or sub-block's) Σ q·x is scaled once. `None` for other types.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_blocks(ty: GgmlType, w: &[u8], x: &[f32]) -> Option<f32> {
        let (bs, ts) = (ty.block_size(), ty.type_size());
        let xp = x.as_ptr();
        let mut acc = _mm256_setzero_ps();
        match ty {
            GgmlType::Q8_0 => {
                for (i, b) in w.chunks_exact(ts).enumerate() {
                    let (q, xb) = (b.as_ptr().add(2), xp.add(i * bs));
                    let mut s = _mm256_setzero_ps();
                    for k in 0..4 {
                        let v =
                            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(q.add(8 * k) as *const __m128i)));
                        s = _mm256_fmadd_ps(v, _mm256_loadu_ps(xb.add(8 * k)), s);
                    }
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b)), s, acc);
                }
            }
            GgmlType::Q4_0 => {
                let (m, eight) = (_mm256_set1_epi32(15), _mm256_set1_ps(8.0));
                for (i, b) in w.chunks_exact(ts).enumerate() {
                    let (q, xb) = (b.as_ptr().add(2), xp.add(i * bs));
                    let mut s = _mm256_setzero_ps();
                    for k in 0..2 {
                        let raw = u8x8(q.add(8 * k));
                        let lo = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(raw, m)), eight);
                        let hi = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(raw, 4)), eight);
                        s = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xb.add(8 * k)), s);
                        s = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xb.add(16 + 8 * k)), s);
                    }
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b)), s, acc);
                }
            }
            GgmlType::Q4K => {
                let m = _mm256_set1_epi32(15);
                for (i, b) in w.chunks_exact(ts).enumerate() {
                    let (d, dmin, scales) = (f16(&b[0..2]), f16(&b[2..4]), &b[4..16]);
                    let xb = xp.add(i * bs);
                    for c in 0..4 {
                        let (sa, ma) = scale_min_k4(2 * c, scales);
                        let (sb, mb) = scale_min_k4(2 * c + 1, scales);
                        let q = b.as_ptr().add(16 + 32 * c);
                        let (mut qa, mut qb, mut xa, mut xbs) =
                            (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
                        for k in 0..4 {
                            let raw = u8x8(q.add(8 * k));
                            let (x1, x2) =
                                (_mm256_loadu_ps(xb.add(64 * c + 8 * k)), _mm256_loadu_ps(xb.add(64 * c + 32 + 8 * k)));
                            qa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(raw, m)), x1, qa);
                            qb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(raw, 4)), x2, qb);
                            xa = _mm256_add_ps(xa, x1);
                            xbs = _mm256_add_ps(xbs, x2);
                        }
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sa as f32), qa, acc);
                        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * ma as f32), xa, acc);
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sb as f32), qb, acc);
                        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * mb as f32), xbs, acc);
                    }
                }
            }
            GgmlType::Q6K => {
                let (m4, m2, off) = (_mm256_set1_epi32(15), _mm256_set1_epi32(3), _mm256_set1_epi32(32));
                for (i, b) in w.chunks_exact(ts).enumerate() {
                    let d = f16(&b[208..210]);
                    let xb = xp.add(i * bs);
                    for h in 0..2 {
                        let (ql, qh, sc) = (b.as_ptr().add(64 * h), b.as_ptr().add(128 + 32 * h), &b[192 + 8 * h..]);
                        for l in (0..32).step_by(8) {
                            let is = l / 16;
                            let (a, c, hb) = (u8x8(ql.add(l)), u8x8(ql.add(l + 32)), u8x8(qh.add(l)));
                            let hi = |shift: i32| -> __m256i {
                                let v = match shift {
                                    0 => hb,
                                    2 => _mm256_srli_epi32(hb, 2),
                                    4 => _mm256_srli_epi32(hb, 4),
                                    _ => _mm256_srli_epi32(hb, 6),
                                };
                                _mm256_slli_epi32(_mm256_and_si256(v, m2), 4)
                            };
                            let qs = [
                                _mm256_or_si256(_mm256_and_si256(a, m4), hi(0)),
                                _mm256_or_si256(_mm256_and_si256(c, m4), hi(2)),
                                _mm256_or_si256(_mm256_srli_epi32(a, 4), hi(4)),
                                _mm256_or_si256(_mm256_srli_epi32(c, 4), hi(6)),
                            ];
                            for (k, q) in qs.iter().enumerate() {
                                let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(*q, off));
                                let s = _mm256_mul_ps(v, _mm256_loadu_ps(xb.add(128 * h + l + 32 * k)));
                                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is + 2 * k] as i8 as f32), s, acc);
                            }
                        }
                    }
                }
            }
            _ => return None,
        }
        Some(hsum(acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantize::GgmlType;

    /// Every block type: the block-wise dot against the plain one (whole row dequantized).
    #[test]
    fn quantized_dots_agree_with_the_plain_ones() {
        let n = 1024;
        let w: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2).collect();
        let x: Vec<f32> = (0..n).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q4K,
            GgmlType::Q5K,
            GgmlType::Q6K,
            GgmlType::IQ4NL,
            GgmlType::IQ3S,
        ] {
            let q = quantize::codec::quantize(ty, &w).unwrap();
            let plain = dot_quant_plain(ty, &q, &x);
            let fast = dot_quant(ty, &q, &x);
            let scale: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
            assert!((fast - plain).abs() / scale < 1e-5, "{ty}: {fast} vs {plain}");
        }
    }
}
