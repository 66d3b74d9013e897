//! The AVX-512 block dots (Q4_0, Q4_K, Q6_K): the AVX2 forms' sums in 16 lanes. Each block's (or
//! sub-block's) partial sums go to one of two accumulators, so consecutive blocks do not wait on
//! each other's additions.

use super::blocks::{f16, scales_mins_k4};
use super::BlockInput;
use quantize::GgmlType;
use std::arch::x86_64::*;

/// Sixteen bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn bytes16(p: *const u8) -> __m128i {
    _mm_loadu_si128(p as *const __m128i)
}

#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn i8_ps(v: __m128i) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
}

/// Σ d·(Σq·x) over blocks of a type with one f16 scale first: `block(codes, x)` gives a
/// block's Σq·x in 16 lanes. Blocks go in pairs, each of a pair to its own accumulator (a
/// constant index, so both stay in registers).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn pairs(
    w: &[u8],
    ts: usize,
    bs: usize,
    xp: *const f32,
    acc: &mut [__m512; 2],
    block: impl Fn(*const u8, *const f32) -> __m512,
) {
    let scaled =
        |b: &[u8], xb: *const f32, a: __m512| _mm512_fmadd_ps(_mm512_set1_ps(f16(b)), block(b.as_ptr().add(2), xb), a);
    let mut it = w.chunks_exact(2 * ts);
    for (i, p) in it.by_ref().enumerate() {
        let xb = xp.add(2 * i * bs);
        acc[0] = scaled(&p[..ts], xb, acc[0]);
        acc[1] = scaled(&p[ts..], xb.add(bs), acc[1]);
    }
    let last = it.remainder();
    if !last.is_empty() {
        acc[0] = scaled(last, xp.add(w.len() / ts / 2 * 2 * bs), acc[0]);
    }
}

/// Rows `w` (`row_bytes` apart) · x into `out`. The K-quants go four rows at a time: a 768-wide
/// row is only three super-blocks, so what a row costs besides its blocks (the call, the final
/// horizontal sums) was ~17% of its dot.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn rows(ty: GgmlType, w: &[u8], row_bytes: usize, input: &BlockInput, out: &mut [f32]) {
    let n = out.len().min(w.len() / row_bytes.max(1));
    let mut r = 0;
    if matches!(ty, GgmlType::Q4K | GgmlType::Q6K) {
        while r + 4 <= n {
            let four = k_rows::<4>(ty, w[r * row_bytes..].as_ptr(), row_bytes, input);
            out[r..r + 4].copy_from_slice(&four);
            r += 4;
        }
    }
    for r in r..n {
        out[r] = dot(ty, &w[r * row_bytes..(r + 1) * row_bytes], input).expect("a fused type");
    }
}

#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn dot(ty: GgmlType, w: &[u8], input: &BlockInput) -> Option<f32> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let xp = input.x.as_ptr();
    let mut acc = [_mm512_setzero_ps(); 2];
    match ty {
        GgmlType::Q4_0 => {
            let (m, eight) = (_mm_set1_epi8(15), _mm_set1_epi8(8));
            pairs(w, ts, bs, xp, &mut acc, |q, xb| {
                let raw = bytes16(q);
                let lo = _mm_sub_epi8(_mm_and_si128(raw, m), eight);
                let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), m), eight);
                let s = _mm512_mul_ps(i8_ps(lo), _mm512_loadu_ps(xb));
                _mm512_fmadd_ps(i8_ps(hi), _mm512_loadu_ps(xb.add(16)), s)
            });
            Some(_mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1])))
        }
        GgmlType::Q4K | GgmlType::Q6K => Some(k_rows::<1>(ty, w.as_ptr(), w.len(), input)[0]),
        _ => None,
    }
}

/// `R` rows of Q4_K or Q6_K (`row_bytes` apart from `w`) · x, each row's into its own two
/// accumulators (and Q4_K's min terms into a third), the horizontal sums at the end.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn k_rows<const R: usize>(ty: GgmlType, w: *const u8, row_bytes: usize, input: &BlockInput) -> [f32; R] {
    let (ts, x, sums) = (ty.type_size(), input.x, &input.sums);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut mins = [_mm256_setzero_ps(); R];
    // Row by row, so the blocks are read in the order they are stored (interleaving rows
    // defeats the hardware prefetcher when the matrix streams from memory).
    for r in 0..R {
        for i in 0..x.len() / 256 {
            let (b, xb) = (std::slice::from_raw_parts(w.add(r * row_bytes + i * ts), ts), x.as_ptr().add(256 * i));
            match ty {
                GgmlType::Q4K => q4k(b, xb, sums.as_ptr().add(8 * i), &mut acc[r], &mut mins[r]),
                _ => q6k(b, xb, &mut acc[r]),
            }
        }
    }
    let mut out = [0f32; R];
    for r in 0..R {
        let m = _mm512_castps256_ps512(mins[r]);
        let m = _mm512_maskz_mov_ps(0x00ff, m);
        out[r] = _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(acc[r][0], acc[r][1]), m));
    }
    out
}

/// One Q4_K super-block: `d·scale·Σq·x` per sub-block into `acc`, `dmin·min·Σx` into `mins`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q4k(b: &[u8], xb: *const f32, sums8: *const f32, acc: &mut [__m512; 2], mins: &mut __m256) {
    let m = _mm_set1_epi8(15);
    let (d, dmin) = (f16(&b[0..2]), f16(&b[2..4]));
    let sm = scales_mins_k4(&b[4..16]);
    // Lanes 0..8: d·scale of each sub-block; 8..16: dmin·min.
    let dd = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d), _mm512_set1_ps(dmin));
    let scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(sm.as_ptr()))), dd);
    let mut f = [0f32; 16];
    _mm512_storeu_ps(f.as_mut_ptr(), scaled);
    let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(scaled)));
    *mins = _mm256_fmadd_ps(high, _mm256_loadu_ps(sums8), *mins);
    let q = b.as_ptr().add(16);
    for c in 0..4 {
        let (r0, r1) = (bytes16(q.add(32 * c)), bytes16(q.add(32 * c + 16)));
        let lo = |r: __m128i| i8_ps(_mm_and_si128(r, m));
        let hi = |r: __m128i| i8_ps(_mm_and_si128(_mm_srli_epi16(r, 4), m));
        let x = |o: usize| _mm512_loadu_ps(xb.add(64 * c + o));
        let sa = _mm512_fmadd_ps(lo(r1), x(16), _mm512_mul_ps(lo(r0), x(0)));
        let sb = _mm512_fmadd_ps(hi(r1), x(48), _mm512_mul_ps(hi(r0), x(32)));
        acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(f[2 * c]), sa, acc[0]);
        acc[1] = _mm512_fmadd_ps(_mm512_set1_ps(f[2 * c + 1]), sb, acc[1]);
    }
}

/// One Q6_K super-block: `d·scale·Σ(q−32)·x` per sixteen values into `acc`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q6k(b: &[u8], xb: *const f32, acc: &mut [__m512; 2]) {
    let (m4, m30, off) = (_mm256_set1_epi8(15), _mm256_set1_epi8(0x30), _mm256_set1_epi8(32));
    let load = |p: *const u8| _mm256_loadu_si256(p as *const __m256i);
    let d = _mm512_set1_ps(f16(&b[208..210]));
    let mut f = [0f32; 16];
    _mm512_storeu_ps(f.as_mut_ptr(), _mm512_mul_ps(i8_ps(bytes16(b.as_ptr().add(192))), d));
    for h in 0..2 {
        let (ql, qh) = (b.as_ptr().add(64 * h), b.as_ptr().add(128 + 32 * h));
        let (a, c, hb) = (load(ql), load(ql.add(32)), load(qh));
        // Six-bit codes less 32, as i8, 32 at a time: the low four bits from
        // `ql`, the top two from `qh` (bits 0-1, 2-3, 4-5, 6-7 for the four
        // quarters of 32 values).
        let q = |low: __m256i, high: __m256i| _mm256_sub_epi8(_mm256_or_si256(low, _mm256_and_si256(high, m30)), off);
        let qs = [
            q(_mm256_and_si256(a, m4), _mm256_slli_epi16(hb, 4)),
            q(_mm256_and_si256(c, m4), _mm256_slli_epi16(hb, 2)),
            q(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), hb),
            q(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_srli_epi16(hb, 2)),
        ];
        for (k, v) in qs.into_iter().enumerate() {
            // Each half of a quarter (16 values) has a scale of its own.
            let halves = [_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)];
            for (is, half) in halves.into_iter().enumerate() {
                let s = _mm512_mul_ps(i8_ps(half), _mm512_loadu_ps(xb.add(128 * h + 32 * k + 16 * is)));
                let a = &mut acc[k & 1];
                *a = _mm512_fmadd_ps(_mm512_set1_ps(f[8 * h + is + 2 * k]), s, *a);
            }
        }
    }
}
