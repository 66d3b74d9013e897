//! Dot products of f32 activations with weight rows as they are stored (f32, bf16 or f16 bytes,
//! little-endian, any alignment), accumulated in f32. Each has a plain form written for reading
//! and, on x86-64 with AVX2+FMA (+F16C for f16), a fast form chosen at run time; a test holds the
//! fast forms to the plain ones. Neither depends on the thread count.

use half::{bf16, f16};

/// How a weight row's elements are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    F32,
    BF16,
    F16,
}

impl Float {
    pub fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::BF16 | Float::F16 => 2,
        }
    }
    pub fn from_dtype(d: convert::DType) -> Option<Float> {
        match d {
            convert::DType::F32 => Some(Float::F32),
            convert::DType::BF16 => Some(Float::BF16),
            convert::DType::F16 => Some(Float::F16),
            _ => None,
        }
    }
}

/// Element `i` of a stored row, widened (exact for every type).
#[inline]
pub(crate) fn load(ty: Float, w: &[u8], i: usize) -> f32 {
    match ty {
        Float::F32 => f32::from_le_bytes([w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]]),
        Float::BF16 => bf16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32(),
        Float::F16 => f16::from_le_bytes([w[2 * i], w[2 * i + 1]]).to_f32(),
    }
}

/// `Σ w[i]·x[i]` with 16 partial sums (lane `i % 16`), added pairwise at the end.
pub fn dot_plain(ty: Float, w: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    debug_assert_eq!(w.len(), n * ty.size());
    let mut acc = [0f32; 16];
    let whole = n / 16 * 16;
    for i in 0..whole {
        acc[i % 16] += load(ty, w, i) * x[i];
    }
    let mut s = reduce16(&acc);
    for i in whole..n {
        s += load(ty, w, i) * x[i];
    }
    s
}

pub(crate) fn reduce16(acc: &[f32; 16]) -> f32 {
    let mut a = *acc;
    for width in [8, 4, 2, 1] {
        for i in 0..width {
            a[i] += a[i + width];
        }
    }
    a[0]
}

/// A stored row widened into `out`.
pub fn widen(ty: Float, w: &[u8], out: &mut [f32]) {
    match ty {
        Float::F32 => {
            out.iter_mut().zip(w.chunks_exact(4)).for_each(|(o, b)| *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        Float::BF16 => {
            out.iter_mut().zip(w.chunks_exact(2)).for_each(|(o, b)| *o = bf16::from_le_bytes([b[0], b[1]]).to_f32())
        }
        Float::F16 => {
            out.iter_mut().zip(w.chunks_exact(2)).for_each(|(o, b)| *o = f16::from_le_bytes([b[0], b[1]]).to_f32())
        }
    }
}

/// `Σ w[i]·x[i]`, the fastest form this CPU has.
#[inline]
pub fn dot(ty: Float, w: &[u8], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::usable(ty) {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            return unsafe { x86::dot(ty, w, x) };
        }
    }
    dot_plain(ty, w, x)
}

/// `Σ a[i]·b[i]` of two f32 slices (the WKV kernels' inner products).
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: f32 has no invalid bit patterns and u8 no alignment; the length is exact.
    let a = unsafe { std::slice::from_raw_parts(a.as_ptr() as *const u8, std::mem::size_of_val(a)) };
    dot(Float::F32, a, b)
}

/// `Σ w[i]·x[i]` for a row of ggml blocks: blocks are dequantized 1024 values at a time into a
/// buffer on the stack (it stays in L1), and each buffer goes through [`dot`]; the partial sums
/// of the pieces are added in order.
pub fn dot_quant(ty: quantize::GgmlType, w: &[u8], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::usable(Float::F16) {
            // SAFETY: the CPU has the features the functions are compiled for (checked above).
            if let Some(s) = unsafe { x86_blocks::dot_blocks(ty, w, x) } {
                return s;
            }
        }
    }
    const PIECE: usize = 1024;
    let deq = quantize::codec::block_dequantizer(ty).expect("a type the engine loaded");
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let per = PIECE / bs;
    let mut buf = [0f32; PIECE];
    let mut s = 0f32;
    for (wb, xb) in w.chunks(per * ts).zip(x.chunks(per * bs)) {
        for (b, o) in wb.chunks_exact(ts).zip(buf.chunks_exact_mut(bs)) {
            deq(b, o);
        }
        s += dot_f32(&buf[..xb.len()], xb);
    }
    s
}

/// The plain form of [`dot_quant`]: the whole row dequantized, then [`dot_plain`].
pub fn dot_quant_plain(ty: quantize::GgmlType, w: &[u8], x: &[f32]) -> f32 {
    let v = quantize::codec::dequantize(ty, w).expect("whole blocks");
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    dot_plain(Float::F32, &bytes, x)
}

/// Rows of ggml blocks dequantized into `out`.
pub fn dequantize(ty: quantize::GgmlType, w: &[u8], out: &mut [f32]) {
    let deq = quantize::codec::block_dequantizer(ty).expect("a type the engine loaded");
    let (bs, ts) = (ty.block_size(), ty.type_size());
    for (b, o) in w.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        deq(b, o);
    }
}

/// Which instruction set [`dot`] uses for `ty` on this CPU.
pub fn isa(ty: Float) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::usable(ty) {
            return if ty == Float::F16 { "avx2+fma+f16c" } else { "avx2+fma" };
        }
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{reduce16, Float};
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub fn usable(ty: Float) -> bool {
        static FEATURES: OnceLock<(bool, bool)> = OnceLock::new();
        let &(avx2_fma, f16c) = FEATURES.get_or_init(|| {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"), is_x86_feature_detected!("f16c"))
        });
        avx2_fma && (ty != Float::F16 || f16c)
    }

    /// Eight stored elements at `w[8 * i..]`, widened.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(ty: Float, w: *const u8, i: usize) -> __m256 {
        match ty {
            Float::F32 => _mm256_loadu_ps(w.add(32 * i) as *const f32),
            Float::BF16 => {
                let h = _mm_loadu_si128(w.add(16 * i) as *const __m128i);
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
            }
            Float::F16 => _mm256_cvtph_ps(_mm_loadu_si128(w.add(16 * i) as *const __m128i)),
        }
    }

    /// The plain form's sums in the same lanes: accumulator `a` holds lanes 0..8, `b` 8..16.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot(ty: Float, w: &[u8], x: &[f32]) -> f32 {
        let n = x.len();
        debug_assert_eq!(w.len(), n * ty.size());
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let blocks = n / 16;
        for k in 0..blocks {
            a = _mm256_fmadd_ps(load8(ty, wp, 2 * k), _mm256_loadu_ps(xp.add(16 * k)), a);
            b = _mm256_fmadd_ps(load8(ty, wp, 2 * k + 1), _mm256_loadu_ps(xp.add(16 * k + 8)), b);
        }
        let mut acc = [0f32; 16];
        _mm256_storeu_ps(acc.as_mut_ptr(), a);
        _mm256_storeu_ps(acc.as_mut_ptr().add(8), b);
        let mut s = reduce16(&acc);
        for i in blocks * 16..n {
            s += super::load(ty, w, i) * x[i];
        }
        s
    }
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
            let mut rows = vec![0f32; n];
            dequantize(ty, &q, &mut rows);
            assert_eq!(rows, quantize::codec::dequantize(ty, &q).unwrap(), "{ty}");
        }
    }

    fn stored(ty: Float, v: &[f32]) -> Vec<u8> {
        match ty {
            Float::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Float::BF16 => v.iter().flat_map(|x| bf16::from_f32(*x).to_le_bytes()).collect(),
            Float::F16 => v.iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()).collect(),
        }
    }

    /// The fast forms against the plain ones (FMA rounds once where the plain loop rounds twice:
    /// within a few ulps of the sum's magnitude), and both against f64, on odd lengths and
    /// unaligned bytes.
    #[test]
    fn fast_dots_agree_with_the_plain_ones() {
        for ty in [Float::F32, Float::BF16, Float::F16] {
            for n in [0usize, 1, 7, 16, 17, 33, 255, 768, 1031] {
                let w: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0).collect();
                let x: Vec<f32> = (0..n).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
                let mut bytes = vec![0u8];
                bytes.extend(stored(ty, &w));
                let wb = &bytes[1..]; // deliberately misaligned
                let plain = dot_plain(ty, wb, &x);
                let fast = dot(ty, wb, &x);
                let exact: f64 = (0..n).map(|i| load(ty, wb, i) as f64 * x[i] as f64).sum();
                let scale: f64 = (0..n).map(|i| (load(ty, wb, i) as f64 * x[i] as f64).abs()).sum::<f64>().max(1e-30);
                assert!((plain as f64 - exact).abs() / scale < 1e-6, "{ty:?} n={n}: plain {plain} vs {exact}");
                assert!(
                    (fast as f64 - plain as f64).abs() / scale < 1e-6,
                    "{ty:?} n={n}: fast {fast} vs plain {plain}"
                );
                let mut widened = vec![0f32; n];
                widen(ty, wb, &mut widened);
                assert!((0..n).all(|i| widened[i] == load(ty, wb, i)));
            }
        }
    }
}
