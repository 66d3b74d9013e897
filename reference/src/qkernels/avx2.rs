//! The AVX2+FMA+F16C block dots: eight lanes, codes widened with `vpmovzx`/`vpmovsx`.

use super::blocks::{f16, scales_mins_k4};
use quantize::GgmlType;
use std::arch::x86_64::*;

/// Eight bytes at `p`, as u8 → i32 lanes.
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

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn rows<'a>(ty: GgmlType, rows: impl Iterator<Item = &'a [u8]>, x: &[f32], sums: &[f32], out: &mut [f32]) {
    for (o, r) in out.iter_mut().zip(rows) {
        *o = dot(ty, r, x, sums).expect("a fused type");
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(ty: GgmlType, w: &[u8], x: &[f32], sums: &[f32]) -> Option<f32> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let xp = x.as_ptr();
    let mut acc = _mm256_setzero_ps();
    match ty {
        GgmlType::Q8_0 => {
            for (i, b) in w.chunks_exact(ts).enumerate() {
                let (q, xb) = (b.as_ptr().add(2), xp.add(i * bs));
                let mut s = _mm256_setzero_ps();
                for k in 0..4 {
                    let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(q.add(8 * k) as *const __m128i)));
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
            let mut mins = 0f32;
            for (i, b) in w.chunks_exact(ts).enumerate() {
                let (d, dmin, sm) = (f16(&b[0..2]), f16(&b[2..4]), scales_mins_k4(&b[4..16]));
                let (xb, sb) = (xp.add(i * bs), &sums[8 * i..8 * i + 8]);
                mins += dmin * (0..8).map(|j| sm[8 + j] as f32 * sb[j]).sum::<f32>();
                for c in 0..4 {
                    let q = b.as_ptr().add(16 + 32 * c);
                    let (mut qa, mut qb) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                    for k in 0..4 {
                        let raw = u8x8(q.add(8 * k));
                        let (x1, x2) =
                            (_mm256_loadu_ps(xb.add(64 * c + 8 * k)), _mm256_loadu_ps(xb.add(64 * c + 32 + 8 * k)));
                        qa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(raw, m)), x1, qa);
                        qb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(raw, 4)), x2, qb);
                    }
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sm[2 * c] as f32), qa, acc);
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sm[2 * c + 1] as f32), qb, acc);
                }
            }
            return Some(hsum(acc) - mins);
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
