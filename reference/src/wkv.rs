//! The WKV recurrences over a sequence, per version: a plain kernel written for reading, and a
//! fast one (parallel over heads or channels, one fused pass per state row) held to it by tests.
//! Inputs are `[T, C]` row-major with `C = H·N`; states are the package's layouts.

use rayon::prelude::*;

/// Which WKV kernel a model runs: the plain one written for reading, or the fast one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Plain,
    Fast,
}

/// RWKV-4, per channel, numerically stable form. `u` = time_first, `w` = −exp(time_decay);
/// state `(aa, bb, pp)` per channel. Returns `wkv` [T, C].
pub mod v4 {
    use super::*;

    #[inline]
    fn step(u: f32, w: f32, k: f32, v: f32, aa: &mut f32, bb: &mut f32, pp: &mut f32) -> f32 {
        let ww = u + k;
        let p = pp.max(ww);
        let e1 = (*pp - p).exp();
        let e2 = (ww - p).exp();
        let out = (e1 * *aa + e2 * v) / (e1 * *bb + e2);
        let ww = w + *pp;
        let p = ww.max(k);
        let e1 = (ww - p).exp();
        let e2 = (k - p).exp();
        *aa = e1 * *aa + e2 * v;
        *bb = e1 * *bb + e2;
        *pp = p;
        out
    }

    pub struct State<'a> {
        pub aa: &'a mut [f32],
        pub bb: &'a mut [f32],
        pub pp: &'a mut [f32],
    }

    pub fn plain(u: &[f32], w: &[f32], k: &[f32], v: &[f32], s: State, out: &mut [f32]) {
        let c = u.len();
        for t in 0..k.len() / c {
            for i in 0..c {
                let j = t * c + i;
                out[j] = step(u[i], w[i], k[j], v[j], &mut s.aa[i], &mut s.bb[i], &mut s.pp[i]);
            }
        }
    }

    /// Channels are independent: each thread takes a block of channels through all T steps.
    pub fn fast(u: &[f32], w: &[f32], k: &[f32], v: &[f32], s: State, out: &mut [f32]) {
        const BLOCK: usize = 64;
        let c = u.len();
        let t_len = k.len() / c;
        let results: Vec<(usize, Vec<f32>)> =
            s.aa.par_chunks_mut(BLOCK)
                .zip(s.bb.par_chunks_mut(BLOCK))
                .zip(s.pp.par_chunks_mut(BLOCK))
                .enumerate()
                .map(|(b, ((aa, bb), pp))| {
                    let c0 = b * BLOCK;
                    let mut o = vec![0f32; t_len * aa.len()];
                    for t in 0..t_len {
                        for i in 0..aa.len() {
                            let j = t * c + c0 + i;
                            o[t * aa.len() + i] =
                                step(u[c0 + i], w[c0 + i], k[j], v[j], &mut aa[i], &mut bb[i], &mut pp[i]);
                        }
                    }
                    (c0, o)
                })
                .collect();
        for (c0, o) in results {
            let n = o.len() / t_len.max(1);
            for t in 0..t_len {
                out[t * c + c0..t * c + c0 + n].copy_from_slice(&o[t * n..(t + 1) * n]);
            }
        }
    }
}

/// RWKV-5.x and RWKV-6: per head, state `S[key i][value j]` (the package's CPU layout):
/// `y_j = Σ_i r_i (u_i k_i v_j + S_ij)`, then `S_ij ← k_i v_j + w_i S_ij`. `w` is per token
/// (RWKV-6) or the same every row (RWKV-5); `u` is per channel.
pub mod v5 {
    use super::*;

    pub fn plain(n: usize, r: &[f32], k: &[f32], v: &[f32], w: &[f32], u: &[f32], s: &mut [f32], y: &mut [f32]) {
        let c = u.len();
        let h_count = c / n;
        for t in 0..r.len() / c {
            for h in 0..h_count {
                let st = &mut s[h * n * n..(h + 1) * n * n];
                let at = |x: &[f32], i: usize| x[t * c + h * n + i];
                for j in 0..n {
                    let mut acc = 0f32;
                    for i in 0..n {
                        acc += at(r, i) * (u[h * n + i] * at(k, i) * at(v, j) + st[i * n + j]);
                    }
                    y[t * c + h * n + j] = acc;
                }
                for i in 0..n {
                    for j in 0..n {
                        st[i * n + j] = at(k, i) * at(v, j) + at(w, i) * st[i * n + j];
                    }
                }
            }
        }
    }

    /// Heads in parallel; per token one pass over the rows of S that reads, updates and
    /// accumulates `y` while the row is in L1.
    pub fn fast(n: usize, r: &[f32], k: &[f32], v: &[f32], w: &[f32], u: &[f32], s: &mut [f32], y: &mut [f32]) {
        let c = u.len();
        let t_len = r.len() / c;
        let outs: Vec<Vec<f32>> = s
            .par_chunks_mut(n * n)
            .enumerate()
            .map(|(h, st)| {
                let mut out = vec![0f32; t_len * n];
                for t in 0..t_len {
                    let base = t * c + h * n;
                    let (rt, kt, vt, wt) =
                        (&r[base..base + n], &k[base..base + n], &v[base..base + n], &w[base..base + n]);
                    let ut = &u[h * n..(h + 1) * n];
                    let yt = &mut out[t * n..(t + 1) * n];
                    for i in 0..n {
                        let (ri, ki, wi) = (rt[i], kt[i], wt[i]);
                        let rku = ri * ut[i] * ki;
                        let row = &mut st[i * n..(i + 1) * n];
                        for j in 0..n {
                            let kv = ki * vt[j];
                            yt[j] += ri * row[j] + rku * vt[j];
                            row[j] = kv + wi * row[j];
                        }
                    }
                }
                out
            })
            .collect();
        scatter_heads(&outs, n, c, y);
    }

    /// The v5/v6 WKV over `[T, C]` inputs with per-token decays `w`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        kernel: Kernel,
        n: usize,
        r: &ndarray::Array2<f32>,
        k: &ndarray::Array2<f32>,
        v: &ndarray::Array2<f32>,
        w: &[f32],
        u: &[f32],
        s: &mut [f32],
    ) -> ndarray::Array2<f32> {
        let mut y = ndarray::Array2::zeros(r.raw_dim());
        let (rs, ks, vs) = (super::row_major(r), super::row_major(k), super::row_major(v));
        let ys = y.as_slice_mut().expect("standard layout");
        match kernel {
            Kernel::Plain => plain(n, rs, ks, vs, w, u, s, ys),
            Kernel::Fast => fast(n, rs, ks, vs, w, u, s, ys),
        }
        y
    }
}

/// RWKV-7: per head, state `S[value i][key j]`, transition `S ← S·diag(w) + (S·a)·bᵀ + v·kᵀ`,
/// then `y = S·r`. The package passes `a = −kk`, `b = kk·a`.
pub mod v7 {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    pub fn plain(
        n: usize,
        r: &[f32],
        w: &[f32],
        k: &[f32],
        v: &[f32],
        a: &[f32],
        b: &[f32],
        s: &mut [f32],
        y: &mut [f32],
    ) {
        let c = s.len() / n;
        let h_count = c / n;
        for t in 0..r.len() / c {
            for h in 0..h_count {
                let st = &mut s[h * n * n..(h + 1) * n * n];
                let at = |x: &[f32], i: usize| x[t * c + h * n + i];
                for i in 0..n {
                    let mut sa = 0f32;
                    for j in 0..n {
                        sa += st[i * n + j] * at(a, j);
                    }
                    for j in 0..n {
                        st[i * n + j] = st[i * n + j] * at(w, j) + sa * at(b, j) + at(v, i) * at(k, j);
                    }
                    let mut acc = 0f32;
                    for j in 0..n {
                        acc += st[i * n + j] * at(r, j);
                    }
                    y[t * c + h * n + i] = acc;
                }
            }
        }
    }

    /// The same recurrence on the transposed state `Sᵀ[key j][value i]`, so every step is a sum
    /// of scaled rows (vectors along `i`) with no horizontal sums: `sa = Σ_j a_j·Sᵀ[j]`, then per
    /// `j`: `Sᵀ[j] ← Sᵀ[j]·w_j + b_j·sa + k_j·v` and `y += r_j·Sᵀ[j]`. Heads run in parallel; each
    /// head's state is transposed in at the start and back at the end, except for a few tokens
    /// (decode), which take the row form.
    #[allow(clippy::too_many_arguments)]
    pub fn fast(
        n: usize,
        r: &[f32],
        w: &[f32],
        k: &[f32],
        v: &[f32],
        a: &[f32],
        b: &[f32],
        s: &mut [f32],
        y: &mut [f32],
    ) {
        let c = s.len() / n;
        let t_len = r.len() / c;
        let outs: Vec<Vec<f32>> = s
            .par_chunks_mut(n * n)
            .enumerate()
            .map(|(h, st)| {
                let mut out = vec![0f32; t_len * n];
                let inputs = HeadInputs { n, c, h, r, w, k, v, a, b };
                if t_len < TRANSPOSE_FROM {
                    head_rows(&inputs, st, &mut out);
                } else {
                    let mut tr = vec![0f32; n * n];
                    transpose(st, &mut tr, n);
                    head(&inputs, &mut tr, &mut out);
                    transpose(&tr, st, n);
                }
                out
            })
            .collect();
        scatter_heads(&outs, n, c, y);
    }

    /// From this many tokens on, transposing the state in and out costs less than the horizontal
    /// sums of the row form saves (two transposes are ~2·N² moves; decode is one token).
    const TRANSPOSE_FROM: usize = 4;

    /// The row form for a few tokens: per state row `i`, `sa = S[i]·a`, the update, `y_i = S[i]·r`.
    fn head_rows(x: &HeadInputs, st: &mut [f32], out: &mut [f32]) {
        let n = x.n;
        for (t, y) in out.chunks_exact_mut(n).enumerate() {
            let [rt, wt, kt, vt, at, bt] = x.token(t);
            for ((row, &vi), yi) in st.chunks_exact_mut(n).zip(vt).zip(y.iter_mut()) {
                let sa = crate::kernels::dot_f32(row, at);
                for (((q, &wj), &bj), &kj) in row.iter_mut().zip(wt).zip(bt).zip(kt) {
                    *q = *q * wj + sa * bj + vi * kj;
                }
                *yi = crate::kernels::dot_f32(row, rt);
            }
        }
    }

    /// One head's slices of the `[T, C]` inputs.
    struct HeadInputs<'a> {
        n: usize,
        c: usize,
        h: usize,
        r: &'a [f32],
        w: &'a [f32],
        k: &'a [f32],
        v: &'a [f32],
        a: &'a [f32],
        b: &'a [f32],
    }

    impl HeadInputs<'_> {
        /// Token `t`'s `[r, w, k, v, a, b]` for this head.
        fn token(&self, t: usize) -> [&[f32]; 6] {
            let span = t * self.c + self.h * self.n..t * self.c + (self.h + 1) * self.n;
            [self.r, self.w, self.k, self.v, self.a, self.b].map(|z| &z[span.clone()])
        }
    }

    fn transpose(from: &[f32], to: &mut [f32], n: usize) {
        for i in 0..n {
            for j in 0..n {
                to[j * n + i] = from[i * n + j];
            }
        }
    }

    /// One head over all tokens, in the widest form this CPU has (the loops along `i` vectorize).
    fn head(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            let level = crate::kernels::level();
            if level == 2 {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { head_avx512(x, tr, out) };
            }
            if level == 1 {
                // SAFETY: as above.
                return unsafe { head_avx2(x, tr, out) };
            }
        }
        head_body(x, tr, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn head_avx512(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        head_body(x, tr, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn head_avx2(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        head_body(x, tr, out)
    }

    /// Every released RWKV-7 has heads of 64: a fixed size keeps `sa` and `y` in registers.
    #[inline(always)]
    fn head_body(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        match x.n {
            64 => head_n::<64>(x, tr, out),
            _ => head_any(x, tr, out),
        }
    }

    #[inline(always)]
    fn head_n<const N: usize>(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        for (t, y) in out.chunks_exact_mut(N).enumerate() {
            let [rt, wt, kt, vt, aa, bt] = x.token(t).map(|z| <[f32; N]>::try_from(z).expect("one head"));
            let mut sa = [0f32; N];
            for (row, &aj) in tr.chunks_exact(N).zip(&aa) {
                for (s, &q) in sa.iter_mut().zip(row) {
                    *s = q.mul_add(aj, *s);
                }
            }
            let mut acc = [0f32; N];
            for (j, row) in tr.chunks_exact_mut(N).enumerate() {
                let (wj, bj, kj, rj) = (wt[j], bt[j], kt[j], rt[j]);
                for i in 0..N {
                    let q = row[i].mul_add(wj, sa[i].mul_add(bj, vt[i] * kj));
                    row[i] = q;
                    acc[i] = q.mul_add(rj, acc[i]);
                }
            }
            y.copy_from_slice(&acc);
        }
    }

    #[inline(always)]
    fn head_any(x: &HeadInputs, tr: &mut [f32], out: &mut [f32]) {
        let n = x.n;
        let mut sa = vec![0f32; n];
        for (t, y) in out.chunks_exact_mut(n).enumerate() {
            let [rt, wt, kt, vt, at, bt] = x.token(t);
            sa.fill(0.0);
            for (row, &aj) in tr.chunks_exact(n).zip(at) {
                for (s, &q) in sa.iter_mut().zip(row) {
                    *s = q.mul_add(aj, *s);
                }
            }
            y.fill(0.0);
            for (j, row) in tr.chunks_exact_mut(n).enumerate() {
                let (wj, bj, kj, rj) = (wt[j], bt[j], kt[j], rt[j]);
                for (((q, &s), &vi), yi) in row.iter_mut().zip(&sa).zip(vt).zip(y.iter_mut()) {
                    *q = q.mul_add(wj, s.mul_add(bj, vi * kj));
                    *yi = q.mul_add(rj, *yi);
                }
            }
        }
    }
}

/// A `[T, C]` input's values, row-major as the engine's ops make them.
pub(crate) fn row_major(x: &ndarray::Array2<f32>) -> &[f32] {
    x.as_slice().expect("standard layout")
}

/// Per-head outputs `[T, N]` back into `[T, C]`.
fn scatter_heads(outs: &[Vec<f32>], n: usize, c: usize, y: &mut [f32]) {
    let t_len = y.len() / c;
    for (h, out) in outs.iter().enumerate() {
        for t in 0..t_len {
            y[t * c + h * n..t * c + (h + 1) * n].copy_from_slice(&out[t * n..(t + 1) * n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [lo, hi).
    fn values(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                lo + (hi - lo) * ((x >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    const LENGTHS: [usize; 4] = [1, 2, 17, 256];

    /// Heads of 64 (every released model; the fixed-size form) and of 24 (the general form).
    #[test]
    fn v7_fast_matches_plain() {
        for (t, (h, n)) in LENGTHS.into_iter().flat_map(|t| [(3, 64), (2, 24)].map(|hn| (t, hn))) {
            let c = h * n;
            let r = values(t * c, 1, -1.0, 1.0);
            let w = values(t * c, 2, 0.55, 1.0);
            let k = values(t * c, 3, -1.0, 1.0);
            let v = values(t * c, 4, -1.0, 1.0);
            // a = −kk, b = kk·a with kk unit-norm per head, as the model makes them.
            let mut kk = values(t * c, 5, -1.0, 1.0);
            for row in kk.chunks_mut(n) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
            }
            let icl = values(t * c, 6, 0.0, 1.0);
            let a: Vec<f32> = kk.iter().map(|x| -x).collect();
            let b: Vec<f32> = kk.iter().zip(&icl).map(|(x, y)| x * y).collect();
            let s0 = values(h * n * n, 7, -0.5, 0.5);
            let (mut s1, mut s2) = (s0.clone(), s0.clone());
            let (mut y1, mut y2) = (vec![0.0; t * c], vec![0.0; t * c]);
            v7::plain(n, &r, &w, &k, &v, &a, &b, &mut s1, &mut y1);
            v7::fast(n, &r, &w, &k, &v, &a, &b, &mut s2, &mut y2);
            let scale = y1.iter().fold(1f32, |m, x| m.max(x.abs()));
            assert!(max_diff(&y1, &y2) <= 1e-5 * scale, "T={t}: y differs by {}", max_diff(&y1, &y2));
            assert!(max_diff(&s1, &s2) <= 1e-5 * scale, "T={t}: state differs");
        }
    }

    #[test]
    fn v5_fast_matches_plain() {
        let (h, n) = (2, 64);
        let c = h * n;
        for t in LENGTHS {
            let r = values(t * c, 11, -1.0, 1.0);
            let k = values(t * c, 12, -1.0, 1.0);
            let v = values(t * c, 13, -1.0, 1.0);
            let w = values(t * c, 14, 0.3, 1.0);
            let u = values(c, 15, -1.0, 1.0);
            let s0 = values(h * n * n, 16, -0.5, 0.5);
            let (mut s1, mut s2) = (s0.clone(), s0.clone());
            let (mut y1, mut y2) = (vec![0.0; t * c], vec![0.0; t * c]);
            v5::plain(n, &r, &k, &v, &w, &u, &mut s1, &mut y1);
            v5::fast(n, &r, &k, &v, &w, &u, &mut s2, &mut y2);
            let scale = y1.iter().fold(1f32, |m, x| m.max(x.abs()));
            assert!(max_diff(&y1, &y2) <= 1e-5 * scale, "T={t}: y differs by {}", max_diff(&y1, &y2));
            assert!(max_diff(&s1, &s2) <= 1e-5 * scale, "T={t}: state differs");
        }
    }

    #[test]
    fn v4_fast_matches_plain() {
        let c = 200;
        for t in LENGTHS {
            let u = values(c, 21, -1.0, 1.0);
            let w: Vec<f32> = values(c, 22, -3.0, 1.0).iter().map(|x| -x.exp()).collect();
            let k = values(t * c, 23, -5.0, 5.0);
            let v = values(t * c, 24, -1.0, 1.0);
            let mut st1 = (vec![0.0; c], vec![0.0; c], vec![-1e30; c]);
            let mut st2 = st1.clone();
            let (mut y1, mut y2) = (vec![0.0; t * c], vec![0.0; t * c]);
            v4::plain(&u, &w, &k, &v, v4::State { aa: &mut st1.0, bb: &mut st1.1, pp: &mut st1.2 }, &mut y1);
            v4::fast(&u, &w, &k, &v, v4::State { aa: &mut st2.0, bb: &mut st2.1, pp: &mut st2.2 }, &mut y2);
            assert_eq!(y1, y2, "T={t}: the same per-channel arithmetic must give the same bits");
            assert_eq!(st1, st2);
        }
    }
}
