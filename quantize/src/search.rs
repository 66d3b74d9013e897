//! The inner loops of ggml's scale searches: each candidate scale is scored with sums over the
//! block, in element order. Float addition is not associative, so a block's sum cannot be split
//! across SIMD lanes; the fast forms put one *candidate* in each lane instead, and every lane
//! keeps the plain loop's order, which makes them bit-identical to it (held so by the tests).

use crate::prim::nearest_int;

/// Most candidates any search here scores (`make_qkx3_quants` with nstep 36 has 37).
pub const MAX_CANDIDATES: usize = 40;

/// `make_qx_quants`' score of each candidate `iscales[k]`: (Σ w·x·q, Σ w·q·q) with
/// q = clamp(nearest_int(iscale·x), −nmax, nmax−1).
pub fn qx_sums(x: &[f32], w: &[f32], nmax: i32, iscales: &[f32], out: &mut [(f32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    if x.iter().all(|v| v.is_finite()) {
        return sse2::qx_sums(x, w, nmax, iscales, out);
    }
    qx_sums_plain(x, w, nmax, iscales, out)
}

pub fn qx_sums_plain(x: &[f32], w: &[f32], nmax: i32, iscales: &[f32], out: &mut [(f32, f32)]) {
    for (o, &iscale) in out.iter_mut().zip(iscales) {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for (i, &v) in x.iter().enumerate() {
            let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1) as f32;
            sumlx += w[i] * v * q;
            suml2 += w[i] * q * q;
        }
        *o = (sumlx, suml2);
    }
}

/// One candidate of `make_qkx3_quants`: the least-squares (scale, min) for the codes that
/// `iscale` gives, and their weighted squared error `mad`; None when the system is singular.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineFit {
    pub scale: f32,
    pub min: f32,
    pub mad: f32,
}

/// One block of `make_qkx3_quants`: values, weights, the current `min`, Σw and Σw·x, the top code,
/// and whether errors are absolute (`make_qkx2_quants`' `use_mad`, Q2_K) or squared.
#[derive(Clone, Copy)]
pub struct AffineBlock<'a> {
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub min: f32,
    pub sum_w: f32,
    pub sum_x: f32,
    pub nmax: i32,
    pub abs_error: bool,
}

/// The fit of each candidate `iscales[k]` for codes q = clamp(nearest_int(iscale·(x − min)), 0, nmax).
pub fn qkx_fits(b: &AffineBlock, iscales: &[f32], out: &mut [Option<AffineFit>]) {
    #[cfg(target_arch = "x86_64")]
    if b.x.iter().all(|v| v.is_finite()) && b.min.is_finite() {
        return sse2::qkx_fits(b, iscales, out);
    }
    qkx_fits_plain(b, iscales, out)
}

/// The solve shared by both forms, in ggml's order of operations.
#[inline]
fn solve(sum_w: f32, sum_x: f32, sum_l: f32, sum_l2: f32, sum_xl: f32) -> Option<(f32, f32)> {
    let d = sum_w * sum_l2 - sum_l * sum_l;
    if !(d > 0.0) {
        return None;
    }
    let mut scale = (sum_w * sum_xl - sum_x * sum_l) / d;
    let mut min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
    if min > 0.0 {
        min = 0.0;
        scale = sum_xl / sum_l2;
    }
    Some((scale, min))
}

pub fn qkx_fits_plain(b: &AffineBlock, iscales: &[f32], out: &mut [Option<AffineFit>]) {
    let AffineBlock { x, w, min, sum_w, sum_x, nmax, abs_error } = *b;
    let mut laux = [0f32; 32];
    for (o, &iscale) in out.iter_mut().zip(iscales) {
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..x.len() {
            let lf = nearest_int(iscale * (x[i] - min)).clamp(0, nmax) as f32;
            laux[i] = lf;
            sum_l += w[i] * lf;
            sum_l2 += w[i] * lf * lf;
            sum_xl += w[i] * lf * x[i];
        }
        *o = solve(sum_w, sum_x, sum_l, sum_l2, sum_xl).map(|(scale, m)| {
            let mut mad = 0f32;
            for i in 0..x.len() {
                let diff = scale * laux[i] + m - x[i];
                mad += w[i] * if abs_error { diff.abs() } else { diff * diff };
            }
            AffineFit { scale, min: m, mad }
        });
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::{solve, AffineBlock, AffineFit, MAX_CANDIDATES};
    use std::arch::x86_64::*;

    /// Round to nearest even as a float, exactly `nearest_int(f) as f32` for |f| < 2²² (the
    /// searches stay far inside: |iscale·x| is at most about nmax + 1).
    #[inline(always)]
    unsafe fn round_even(f: __m128) -> __m128 {
        let magic = _mm_set1_ps(12582912.0);
        _mm_sub_ps(_mm_add_ps(f, magic), magic)
    }

    fn lanes(n: usize) -> usize {
        n.div_ceil(4)
    }

    pub fn qx_sums(x: &[f32], w: &[f32], nmax: i32, iscales: &[f32], out: &mut [(f32, f32)]) {
        let n = iscales.len();
        assert!(n <= MAX_CANDIDATES && out.len() >= n && w.len() >= x.len());
        let mut sc = [0f32; MAX_CANDIDATES];
        sc[..n].copy_from_slice(iscales);
        let mut lx = [0f32; MAX_CANDIDATES];
        let mut l2 = [0f32; MAX_CANDIDATES];
        // SAFETY: SSE2 is always present on x86-64; every access is within the arrays above.
        unsafe {
            let (lo, hi) = (_mm_set1_ps(-nmax as f32), _mm_set1_ps((nmax - 1) as f32));
            for g in 0..lanes(n) {
                let s = _mm_loadu_ps(sc.as_ptr().add(4 * g));
                let (mut slx, mut sl2) = (_mm_setzero_ps(), _mm_setzero_ps());
                for (i, &v) in x.iter().enumerate() {
                    let q = _mm_min_ps(_mm_max_ps(round_even(_mm_mul_ps(s, _mm_set1_ps(v))), lo), hi);
                    let wi = _mm_set1_ps(w[i]);
                    slx = _mm_add_ps(slx, _mm_mul_ps(_mm_mul_ps(wi, _mm_set1_ps(v)), q));
                    sl2 = _mm_add_ps(sl2, _mm_mul_ps(_mm_mul_ps(wi, q), q));
                }
                _mm_storeu_ps(lx.as_mut_ptr().add(4 * g), slx);
                _mm_storeu_ps(l2.as_mut_ptr().add(4 * g), sl2);
            }
        }
        for k in 0..n {
            out[k] = (lx[k], l2[k]);
        }
    }

    pub fn qkx_fits(b: &AffineBlock, iscales: &[f32], out: &mut [Option<AffineFit>]) {
        let AffineBlock { x, w, min, sum_w, sum_x, nmax, abs_error } = *b;
        let n = iscales.len();
        assert!(n <= MAX_CANDIDATES && out.len() >= n && x.len() <= 32 && w.len() >= x.len());
        let mut sc = [0f32; MAX_CANDIDATES];
        sc[..n].copy_from_slice(iscales);
        let mut xm = [0f32; 32];
        for i in 0..x.len() {
            xm[i] = x[i] - min;
        }
        // SAFETY: SSE2 is always present on x86-64; every access is within the arrays above.
        unsafe {
            let (zero, top) = (_mm_setzero_ps(), _mm_set1_ps(nmax as f32));
            for g in 0..lanes(n) {
                let s = _mm_loadu_ps(sc.as_ptr().add(4 * g));
                let code = |i: usize| _mm_min_ps(_mm_max_ps(round_even(_mm_mul_ps(s, _mm_set1_ps(xm[i]))), zero), top);
                let (mut sl, mut sl2, mut sxl) = (_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps());
                for i in 0..x.len() {
                    let lf = code(i);
                    let wl = _mm_mul_ps(_mm_set1_ps(w[i]), lf);
                    sl = _mm_add_ps(sl, wl);
                    sl2 = _mm_add_ps(sl2, _mm_mul_ps(wl, lf));
                    sxl = _mm_add_ps(sxl, _mm_mul_ps(wl, _mm_set1_ps(x[i])));
                }
                let (mut a, mut b, mut c) = ([0f32; 4], [0f32; 4], [0f32; 4]);
                _mm_storeu_ps(a.as_mut_ptr(), sl);
                _mm_storeu_ps(b.as_mut_ptr(), sl2);
                _mm_storeu_ps(c.as_mut_ptr(), sxl);
                // The solve is a handful of scalar operations per candidate; the error pass is the
                // second loop over the block, again one candidate per lane.
                let (mut fs, mut fm) = ([0f32; 4], [0f32; 4]);
                let mut ok = [false; 4];
                for k in 0..4 {
                    if let Some((scale, m)) = solve(sum_w, sum_x, a[k], b[k], c[k]) {
                        (fs[k], fm[k], ok[k]) = (scale, m, true);
                    }
                }
                let (vs, vm) = (_mm_loadu_ps(fs.as_ptr()), _mm_loadu_ps(fm.as_ptr()));
                let mut mad = _mm_setzero_ps();
                let sign = _mm_set1_ps(-0.0);
                for i in 0..x.len() {
                    let diff = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(vs, code(i)), vm), _mm_set1_ps(x[i]));
                    let e = if abs_error { _mm_andnot_ps(sign, diff) } else { _mm_mul_ps(diff, diff) };
                    mad = _mm_add_ps(mad, _mm_mul_ps(_mm_set1_ps(w[i]), e));
                }
                let mut md = [0f32; 4];
                _mm_storeu_ps(md.as_mut_ptr(), mad);
                for k in 0..4.min(n - 4 * g) {
                    out[4 * g + k] = ok[k].then_some(AffineFit { scale: fs[k], min: fm[k], mad: md[k] });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u32) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32 - 0.5
        }
    }

    #[test]
    fn fast_searches_equal_the_plain_ones() {
        let mut r = rng(0x1234_5677);
        for case in 0..4000 {
            let n = if case % 2 == 0 { 16 } else { 32 };
            let scale = [1e-6f32, 0.02, 1.0, 100.0][case % 4];
            let x: Vec<f32> = (0..n).map(|_| r() * scale + if case % 7 == 0 { 0.3 * scale } else { 0.0 }).collect();
            let w: Vec<f32> = (0..n).map(|i| if case % 3 == 0 { x[i] * x[i] } else { (r() + 0.6) * 2.0 }).collect();
            let max = x.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            let iscales: Vec<f32> = (-9..=9).map(|is| -(32.0 + 0.1 * is as f32) / max).collect();
            let (mut a, mut b) = ([(0f32, 0f32); 19], [(0f32, 0f32); 19]);
            qx_sums(&x, &w, 32, &iscales, &mut a);
            qx_sums_plain(&x, &w, 32, &iscales, &mut b);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "qx case {case}");

            let min = x.iter().fold(0f32, |m, &v| m.min(v));
            let mx = x.iter().fold(f32::MIN, |m, &v| m.max(v));
            let (sum_w, sum_x) = (w.iter().sum::<f32>(), x.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>());
            let iscales: Vec<f32> = (0..=36).map(|is| (-0.9 + 0.05 * is as f32 + 15.0) / (mx - min)).collect();
            let (mut a, mut b) = ([None; 37], [None; 37]);
            let block = AffineBlock { x: &x, w: &w, min, sum_w, sum_x, nmax: 15, abs_error: case % 5 == 0 };
            qkx_fits(&block, &iscales, &mut a);
            qkx_fits_plain(&block, &iscales, &mut b);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "qkx case {case}");
        }
    }
}
