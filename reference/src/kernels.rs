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
        if level() >= 1 {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            return unsafe { x86::dot(ty, w, x) };
        }
    }
    dot_plain(ty, w, x)
}

/// [`dot`] of the consecutive rows of `w` (each as long as `x`) into `out`, the form chosen once.
pub fn dot_rows(ty: Float, w: &[u8], x: &[f32], out: &mut [f32]) {
    let rows = w.chunks_exact(x.len() * ty.size()).take(out.len());
    #[cfg(target_arch = "x86_64")]
    {
        if level() >= 1 {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            return unsafe { x86::rows(ty, rows, x, out) };
        }
    }
    for (o, r) in out.iter_mut().zip(rows) {
        *o = dot_plain(ty, r, x);
    }
}

/// `out[j] = Σ_i x[i]·W[i, start + j]` for a matrix stored `[in, out]` (`stride` = out), as LoRA
/// factors are (`x·W`): each output is a column, summed over `i` in order. Reading rows of the
/// matrix and adding scaled rows needs no horizontal sums, which a 64-long row's dot would spend
/// most of its time on.
pub fn column_dots_plain(ty: Float, w: &[u8], stride: usize, start: usize, x: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (i, &xi) in x.iter().enumerate() {
        for (j, o) in out.iter_mut().enumerate() {
            *o += load(ty, w, i * stride + start + j) * xi;
        }
    }
}

/// [`column_dots_plain`], the fastest form this CPU has.
pub fn column_dots(ty: Float, w: &[u8], stride: usize, start: usize, x: &[f32], out: &mut [f32]) {
    debug_assert!(w.len() >= x.len() * stride * ty.size() && start + out.len() <= stride);
    #[cfg(target_arch = "x86_64")]
    {
        if level() >= 1 {
            // SAFETY: the CPU has the features the function is compiled for (checked above); the
            // rows are in bounds (asserted above).
            return unsafe { x86::column_dots(ty, w, stride, start, x, out) };
        }
    }
    column_dots_plain(ty, w, stride, start, x, out)
}

/// `Σ a[i]·b[i]` of two f32 slices (the WKV kernels' inner products).
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: f32 has no invalid bit patterns and u8 no alignment; the length is exact.
    let a = unsafe { std::slice::from_raw_parts(a.as_ptr() as *const u8, std::mem::size_of_val(a)) };
    dot(Float::F32, a, b)
}

/// The widest kernel family this CPU has, on which every fast kernel of the engine dispatches:
/// 2 AVX-512F (with AVX2, FMA, F16C), 1 AVX2+FMA+F16C, 0 portable. `RWKV_MAX_ISA=avx2` or
/// `portable` caps it below what the CPU has (to compare forms on one machine, as benchmarks do).
pub fn level() -> u8 {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<u8> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("RWKV_MAX_ISA").as_deref() {
            Ok("portable") => 0,
            Ok("avx2") => 1,
            _ => 2,
        };
        #[cfg(target_arch = "x86_64")]
        let has = {
            let avx2 =
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
            match (avx2, is_x86_feature_detected!("avx512f")) {
                (true, true) => 2,
                (true, false) => 1,
                _ => 0,
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let has = 0;
        cap.min(has)
    })
}

/// Which instruction set [`dot`] uses for `ty` on this CPU.
pub fn isa(ty: Float) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if level() >= 1 {
            return if ty == Float::F16 { "avx2+fma+f16c" } else { "avx2+fma" };
        }
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{reduce16, Float};
    use std::arch::x86_64::*;
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

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn rows<'a>(ty: Float, rows: impl Iterator<Item = &'a [u8]>, x: &[f32], out: &mut [f32]) {
        for (o, r) in out.iter_mut().zip(rows) {
            *o = dot(ty, r, x);
        }
    }

    /// Columns in groups of 64 (eight accumulators, the rows ahead prefetched), then of 8, then one
    /// at a time; every output summed over the rows in order, as the plain form does.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn column_dots(ty: Float, w: &[u8], stride: usize, start: usize, x: &[f32], out: &mut [f32]) {
        let size = ty.size();
        let row = |i: usize| w.as_ptr().add((i * stride + start) * size);
        let mut j = 0;
        while j + 64 <= out.len() {
            let mut acc = [_mm256_setzero_ps(); 8];
            for (i, &xi) in x.iter().enumerate() {
                let (r, xb) = (row(i).add(j * size), _mm256_set1_ps(xi));
                if i + 4 < x.len() {
                    // Every cache line of the 64 columns four rows ahead (2 for bf16/f16, 4 for f32).
                    let ahead = row(i + 4).add(j * size) as *const i8;
                    for line in (0..64 * size).step_by(64) {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.add(line));
                    }
                }
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(load8(ty, r, k), xb, *a);
                }
            }
            for (k, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(j + 8 * k), *a);
            }
            j += 64;
        }
        while j + 8 <= out.len() {
            let mut a = _mm256_setzero_ps();
            for (i, &xi) in x.iter().enumerate() {
                a = _mm256_fmadd_ps(load8(ty, row(i).add(j * size), 0), _mm256_set1_ps(xi), a);
            }
            _mm256_storeu_ps(out.as_mut_ptr().add(j), a);
            j += 8;
        }
        for (jj, o) in out.iter_mut().enumerate().skip(j) {
            *o = x
                .iter()
                .enumerate()
                .fold(0.0, |s, (i, &xi)| super::load(ty, w, i * stride + start + jj).mul_add(xi, s));
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Column sums of a matrix stored `[in, out]`, fast against plain, and the plain form against
    /// f64, for column ranges that exercise the 32-, 8- and 1-wide paths and unaligned bytes.
    #[test]
    fn fast_column_dots_agree_with_the_plain_ones() {
        for ty in [Float::F32, Float::BF16, Float::F16] {
            for (rows, cols, start, n) in
                [(64usize, 768usize, 0usize, 64usize), (768, 64, 0, 64), (37, 77, 3, 73), (5, 9, 8, 1)]
            {
                let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0).collect();
                let x: Vec<f32> = (0..rows).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
                let mut bytes = vec![0u8];
                bytes.extend(stored(ty, &w));
                let wb = &bytes[1..];
                let (mut plain, mut fast) = (vec![0f32; n], vec![1f32; n]);
                column_dots_plain(ty, wb, cols, start, &x, &mut plain);
                column_dots(ty, wb, cols, start, &x, &mut fast);
                for j in 0..n {
                    let terms = (0..rows).map(|i| load(ty, wb, i * cols + start + j) as f64 * x[i] as f64);
                    let exact: f64 = terms.clone().sum();
                    let scale = terms.map(f64::abs).sum::<f64>().max(1e-30);
                    assert!(
                        (plain[j] as f64 - exact).abs() / scale < 1e-6,
                        "{ty:?} col {j}: plain {} vs {exact}",
                        plain[j]
                    );
                    assert!(
                        (fast[j] - plain[j]).abs() as f64 / scale < 1e-6,
                        "{ty:?} col {j}: fast {} vs plain {}",
                        fast[j],
                        plain[j]
                    );
                }
            }
        }
    }
}
