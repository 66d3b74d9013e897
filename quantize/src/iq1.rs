//! IQ1_S and IQ1_M: 256-value super-blocks whose groups of eight values are points of a
//! 2048-point grid of ternary levels {-1, 0, 1}, shifted by ±1/8 per sub-block (IQ1_S: 32-value
//! sub-blocks, one shift each; IQ1_M: 16-value sub-blocks, one shift per group of eight).
//! Quantization finds the weighted-optimal split of each sorted sub-block into three levels, then
//! snaps off-grid groups to their nearest grid neighbours, as ggml's `quantize_row_iq1_s_impl` /
//! `quantize_row_iq1_m_impl` do (their sort, glibc's merge sort, included: tied values keep their
//! order).

use crate::iq1_grids::KGRID_2048;
use crate::prim::{from_f16, nearest_int, to_f16};
use std::sync::OnceLock;

/// `IQ1S_DELTA` and `IQ1M_DELTA` (both 0.125).
const DELTA: f32 = 0.125;
/// The three levels with the shift up (`x_p`) and down (`x_m`).
const X_P: [f32; 3] = [-1.0 + DELTA, DELTA, 1.0 + DELTA];
const X_M: [f32; 3] = [-1.0 - DELTA, -DELTA, 1.0 - DELTA];
const GROUP_MAX_EPS_IQ1_S: f32 = 1e-12;
const GROUP_MAX_EPS_IQ1_M: f32 = 1e-7;

/// The grid with its lookup map and neighbour lists (ggml's `iq2xs_init_impl` for IQ1_S/IQ1_M).
pub struct Grid {
    /// Levels l (0, 1, 2) of each grid point.
    points: Vec<[u8; 8]>,
    /// For each 16-bit code (l_i at bits 2i): the grid index, or the neighbour list's position.
    map: Vec<Result<u16, usize>>,
    /// Neighbour lists: count, then indices, nearest first (by distance, then index).
    neighbours: Vec<u16>,
}

/// The 16-bit code of eight levels.
fn code(l: &[u8]) -> usize {
    (0..8).map(|j| (l[j] as usize) << (2 * j)).sum()
}

fn build() -> Grid {
    let points: Vec<[u8; 8]> =
        KGRID_2048.iter().map(|&g| std::array::from_fn(|i| ((g >> (2 * i)) & 3) as u8)).collect();
    let mut map: Vec<Result<u16, usize>> = vec![Err(usize::MAX); 1 << 16];
    for (i, p) in points.iter().enumerate() {
        map[code(p)] = Ok(i as u16);
    }
    // Only codes of levels 0..=2 are ever looked up (ggml also lists codes with a level 3).
    let mut neighbours = Vec::new();
    let mut dist = vec![0u8; points.len()];
    for t in 0..3usize.pow(8) {
        let l: [u8; 8] = std::array::from_fn(|i| (t / 3usize.pow(i as u32) % 3) as u8);
        let u = code(&l);
        if map[u].is_ok() {
            continue;
        }
        // Squared distance of the values 2l+1, in units of 4.
        let mut seen = [false; 33];
        for (d, p) in dist.iter_mut().zip(&points) {
            *d = (0..8).map(|i| (p[i] as i32 - l[i] as i32).pow(2) as u8).sum();
            seen[*d as usize] = true;
        }
        // ggml sorts (distance, index) pairs and keeps every point of the three nearest distances.
        let start = neighbours.len();
        neighbours.push(0);
        for d in (0..33u8).filter(|&d| seen[d as usize]).take(3) {
            neighbours.extend((0..points.len() as u16).filter(|&j| dist[j as usize] == d));
        }
        neighbours[start] = (neighbours.len() - start - 1) as u16;
        map[u] = Err(start);
    }
    Grid { points, map, neighbours }
}

pub fn grid() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(build)
}

impl Grid {
    /// [`Grid::best_neighbour_ref`] with each value's three possible terms `w·diff·diff`
    /// computed once: a neighbour's distance is then eight look-ups, summed in ggml's order.
    /// The grid points of `G` groups of eight levels `l`: each its own point when on the grid, else
    /// the best neighbour (the group's grid values `xx(k)`); after any snap off the grid, the
    /// scale refitted to the chosen points ([`refit`]).
    fn snap<const G: usize>(
        &self,
        l: &[u8],
        xb: &[f32],
        weight: &[f32],
        scale: f32,
        xx: impl Fn(usize) -> &'static [f32; 3],
    ) -> ([u16; G], f32) {
        let mut all_on_grid = true;
        let index: [u16; G] = std::array::from_fn(|k| match self.map[code(&l[8 * k..8 * k + 8])] {
            Ok(g) => g,
            Err(start) => {
                all_on_grid = false;
                self.best_neighbour(start, &xb[8 * k..8 * k + 8], &weight[8 * k..8 * k + 8], scale, xx(k))
            }
        });
        if all_on_grid {
            return (index, scale);
        }
        let groups = (0..G).map(|k| (&self.points[index[k] as usize], xx(k)));
        (index, refit(xb, &weight[..8 * G], scale, groups))
    }

    fn best_neighbour(&self, start: usize, xval: &[f32], weight: &[f32], scale: f32, xg: &[f32; 3]) -> u16 {
        let terms: [[f32; 3]; 8] = std::array::from_fn(|i| {
            std::array::from_fn(|l| {
                let diff = scale * xg[l] - xval[i];
                weight[i] * diff * diff
            })
        });
        let n = self.neighbours[start] as usize;
        let (mut best, mut index) = (f32::MAX, None);
        for &j in &self.neighbours[start + 1..start + 1 + n] {
            let g = &self.points[j as usize];
            let d2 = (0..8).fold(0f32, |d2, i| d2 + terms[i][g[i] as usize]);
            if d2 < best {
                best = d2;
                index = Some(j);
            }
        }
        index.expect("IQ1: no neighbour at a finite distance (ggml reads past its row here)")
    }

    /// `iq1_find_best_neighbour2`: the neighbour of an off-grid group closest (weighted) to
    /// `xval` at `scale` with levels `xg`.
    #[cfg_attr(not(test), allow(dead_code))]
    fn best_neighbour_ref(&self, start: usize, xval: &[f32], weight: &[f32], scale: f32, xg: &[f32; 3]) -> u16 {
        let n = self.neighbours[start] as usize;
        let (mut best, mut index) = (f32::MAX, None);
        for &j in &self.neighbours[start + 1..start + 1 + n] {
            let g = &self.points[j as usize];
            let mut d2 = 0f32;
            for i in 0..8 {
                let diff = scale * xg[g[i] as usize] - xval[i];
                d2 += weight[i] * diff * diff;
            }
            if d2 < best {
                best = d2;
                index = Some(j);
            }
        }
        // ggml's fallback (a scan of the whole grid) reads xval[i] for i up to 2047, past its row:
        // undefined; reached only if every neighbour's distance is infinite or NaN (ggml then aborts
        // or reads garbage), which finite inputs we tried never produce.
        index.expect("IQ1: no neighbour at a finite distance (ggml reads past its row here)")
    }
}

/// The C comparator `iq1_sort_helper`: -1, 1, or 0 (also for NaN).
fn cmp(a: f32, b: f32) -> i32 {
    if a < b {
        -1
    } else if a > b {
        1
    } else {
        0
    }
}

/// The indices 0..N sorted by their values as ggml's `qsort` sorts them: [`sort_order_ref`]'s
/// order, found by counting ranks (which is that order whenever the comparator is a total
/// preorder, i.e. without NaN: ascending value, ties by index).
fn sort_order<const N: usize>(x: &[f32]) -> [u8; N] {
    if x[..N].iter().any(|v| v.is_nan()) {
        return sort_order_ref(x);
    }
    // Integer keys in the order of the values; `+ 0.0` makes -0.0 equal to 0.0, as `<` sees them.
    let keys: [i32; N] = std::array::from_fn(|i| {
        let b = (x[i] + 0.0).to_bits() as i32;
        if b < 0 {
            b ^ 0x7fff_ffff
        } else {
            b
        }
    });
    let mut order = [0u8; N];
    for i in 0..N {
        let k = keys[i];
        let mut rank = 0u32;
        for (j, &kj) in keys.iter().enumerate() {
            rank += (kj < k) as u32 + ((kj == k) & (j < i)) as u32;
        }
        order[rank as usize] = i as u8;
    }
    order
}

/// glibc's `qsort` for small arrays (`msort_with_tmp`, a top-down merge sort taking from the
/// left on ties) of the indices 0..N by their values: the order ggml's `qsort` gives.
fn sort_order_ref<const N: usize>(x: &[f32]) -> [u8; N] {
    fn msort(x: &[f32], b: &mut [u8], tmp: &mut [u8]) {
        let n = b.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        msort(x, &mut b[..n1], tmp);
        msort(x, &mut b[n1..], tmp);
        let (mut i, mut j, mut t) = (0, n1, 0);
        while i < n1 && j < n {
            if cmp(x[b[i] as usize], x[b[j] as usize]) <= 0 {
                tmp[t] = b[i];
                i += 1;
            } else {
                tmp[t] = b[j];
                j += 1;
            }
            t += 1;
        }
        // What is left of the right half is in place already.
        while i < n1 {
            tmp[t] = b[i];
            i += 1;
            t += 1;
        }
        b[..t].copy_from_slice(&tmp[..t]);
    }
    let mut b: [u8; N] = std::array::from_fn(|i| i as u8);
    let mut tmp = [0u8; N];
    msort(x, &mut b, &mut tmp);
    b
}

fn sigma2(x: &[f32]) -> f32 {
    2.0 * x.iter().fold(0f32, |a, &v| a + v * v) / 256.0
}

/// ggml's weights of a super-block: `qw·sqrt(sigma2 + x²)`, or `x²` without importance weights.
fn weights(x: &[f32], qw: Option<&[f32]>) -> [f32; 256] {
    let s2 = sigma2(x);
    let mut w = [0f32; 256];
    for i in 0..256 {
        w[i] = match qw {
            Some(q) => q[i] * (s2 + x[i] * x[i]).sqrt(),
            None => x[i] * x[i],
        };
    }
    w
}

fn abs_max(x: &[f32]) -> f32 {
    x[1..].iter().fold(x[0].abs(), |m, &v| if m > v.abs() { m } else { v.abs() })
}

/// Levels of a sub-block split at sorted positions `i1` and `i2` (0 below, 1 between, 2 above).
fn levels<const N: usize>(order: &[u8; N], i1: usize, i2: usize) -> [u8; N] {
    let mut l = [0u8; N];
    for (j, &i) in order.iter().enumerate() {
        l[i as usize] = (j >= i1) as u8 + (j >= i2) as u8;
    }
    l
}

/// The running best of a split search, ggml's test and update: a candidate wins when
/// `sumq2 > 0 && sumqx² > best_score·sumq2`, then `scale = sumqx/sumq2`, `best_score = scale·sumqx`.
struct Best<T> {
    score: f32,
    found: Option<(T, f32)>,
}

impl<T> Best<T> {
    fn new() -> Self {
        Best { score: -f32::MAX, found: None }
    }

    fn offer(&mut self, sumqx: f32, sumq2: f32, what: T) {
        if sumq2 > 0.0 && sumqx * sumqx > self.score * sumq2 {
            let scale = sumqx / sumq2;
            self.score = scale * sumqx;
            self.found = Some((what, scale));
        }
    }

    /// Whether any of the first `n` candidates would win against the current best (then
    /// offering them in order gives the same result as offering them all; otherwise none wins).
    #[inline(always)]
    fn beaten<const L: usize>(&self, sumqx: &[f32; L], sumq2: &[f32; L], n: usize) -> bool {
        let mut any = false;
        for l in 0..L {
            any |= (l < n) & (sumq2[l] > 0.0) & (sumqx[l] * sumqx[l] > self.score * sumq2[l]);
        }
        any
    }
}

/// IQ1_S's exhaustive split search over the prefix sums of a sorted 32-value sub-block: the best
/// ((i1, i2, shift), scale), shift +1 for `x_p`, -1 for `x_m`.
#[cfg_attr(not(test), allow(dead_code))]
fn best_split_s_ref(sumx: &[f32; 33], sumw: &[f32; 33]) -> Option<((usize, usize, i8), f32)> {
    let mut best = Best::new();
    for i1 in 0..=32 {
        for i2 in i1..=32 {
            for (xs, shift) in [(&X_P, 1), (&X_M, -1)] {
                let sumqx =
                    (sumx[i1] - sumx[0]) * xs[0] + (sumx[i2] - sumx[i1]) * xs[1] + (sumx[32] - sumx[i2]) * xs[2];
                let sumq2 = (sumw[i1] - sumw[0]) * xs[0] * xs[0]
                    + (sumw[i2] - sumw[i1]) * xs[1] * xs[1]
                    + (sumw[32] - sumw[i2]) * xs[2] * xs[2];
                best.offer(sumqx, sumq2, (i1, i2, shift));
            }
        }
    }
    best.found
}

/// [`best_split_s_ref`] eight `i2` at a time: the same sums (the terms that do not depend on
/// `i2`, or only on it, computed once), tested together against the running best; only a group
/// with a winner is offered candidate by candidate.
fn best_split_s(sumx: &[f32; 33], sumw: &[f32; 33]) -> Option<((usize, usize, i8), f32)> {
    const L: usize = 8;
    const SHIFTS: [(&[f32; 3], i8); 2] = [(&X_P, 1), (&X_M, -1)];
    // Padded so that every group of L loads in bounds; lanes past i2 = 32 are never offered.
    let (mut sx, mut sw) = ([0f32; 33 + L], [0f32; 33 + L]);
    sx[..33].copy_from_slice(sumx);
    sw[..33].copy_from_slice(sumw);
    let (mut tail_x, mut tail_w) = ([[0f32; 33 + L]; 2], [[0f32; 33 + L]; 2]);
    for (s, (xs, _)) in SHIFTS.iter().enumerate() {
        for i2 in 0..=32 {
            tail_x[s][i2] = (sumx[32] - sumx[i2]) * xs[2];
            tail_w[s][i2] = (sumw[32] - sumw[i2]) * xs[2] * xs[2];
        }
    }
    let mut best = Best::new();
    for i1 in 0..=32 {
        let head_x = SHIFTS.map(|(xs, _)| (sumx[i1] - sumx[0]) * xs[0]);
        let head_w = SHIFTS.map(|(xs, _)| (sumw[i1] - sumw[0]) * xs[0] * xs[0]);
        for i2 in (i1..=32).step_by(L) {
            let (mut qx, mut q2) = ([[0f32; L]; 2], [[0f32; L]; 2]);
            for (s, (xs, _)) in SHIFTS.iter().enumerate() {
                for l in 0..L {
                    qx[s][l] = head_x[s] + (sx[i2 + l] - sumx[i1]) * xs[1] + tail_x[s][i2 + l];
                    q2[s][l] = head_w[s] + (sw[i2 + l] - sumw[i1]) * xs[1] * xs[1] + tail_w[s][i2 + l];
                }
            }
            let n = L.min(33 - i2);
            if best.beaten(&qx[0], &q2[0], n) | best.beaten(&qx[1], &q2[1], n) {
                for l in 0..n {
                    for (s, &(_, shift)) in SHIFTS.iter().enumerate() {
                        best.offer(qx[s][l], q2[s][l], (i1, i2 + l, shift));
                    }
                }
            }
        }
    }
    best.found
}

/// One IQ1_S sub-block: (grid indices of its four groups, scale, shift), or None when it stays
/// zero.
fn sub_block_s(grid: &Grid, xb: &[f32], weight: &[f32]) -> Option<([u16; 4], f32, i8)> {
    if abs_max(xb) < GROUP_MAX_EPS_IQ1_S {
        return None;
    }
    let order = sort_order::<32>(xb);
    let (mut sumx, mut sumw) = ([0f32; 33], [0f32; 33]);
    for (j, &i) in order.iter().enumerate() {
        let i = i as usize;
        sumx[j + 1] = sumx[j] + weight[i] * xb[i];
        sumw[j + 1] = sumw[j] + weight[i];
    }
    let ((i1, i2, mut shift), mut scale) = best_split_s(&sumx, &sumw)?;
    let mut l = levels(&order, i1, i2);
    if scale < 0.0 {
        l.iter_mut().for_each(|v| *v = 2 - *v);
        scale = -scale;
        shift = -shift;
    }
    let xx = if shift == 1 { &X_P } else { &X_M };
    let (index, scale) = grid.snap::<4>(&l, xb, weight, scale, |_| xx);
    assert!(scale >= 0.0, "IQ1_S: negative scale (ggml asserts)");
    Some((index, scale, shift))
}

/// After a snap off the grid, the weighted least-squares scale of the chosen points (groups of
/// eight: grid point and its three levels), kept when positive, as ggml refits both IQ1 types.
fn refit<'a>(xb: &[f32], weight: &[f32], scale: f32, groups: impl Iterator<Item = (&'a [u8; 8], &'a [f32; 3])>) -> f32 {
    let (mut sumqx, mut sumq2) = (0f32, 0f32);
    for (k, (g, xx)) in groups.enumerate() {
        for j in 0..8 {
            let (w, q) = (weight[8 * k + j], xx[g[j] as usize]);
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    if sumqx > 0.0 && sumq2 > 0.0 {
        sumqx / sumq2
    } else {
        scale
    }
}

/// One 256-value block of IQ1_S (50 bytes: fp16 d, qs[32], qh[8] as u16). ggml has no path
/// without importance weights (it asserts), so `qw` is required.
pub fn quantize_iq1_s(x: &[f32], out: &mut [u8], qw: &[f32]) {
    let grid = grid();
    out[..50].fill(0);
    let weight = weights(x, Some(qw));
    let mut scales = [0f32; 8];
    let mut shifts = [1i8; 8];
    let mut qh = [0u16; 8];
    let mut max_scale = 0f32;
    for ib in 0..8 {
        let r = 32 * ib..32 * ib + 32;
        let Some((index, scale, shift)) = sub_block_s(grid, &x[r.clone()], &weight[r]) else { continue };
        for k in 0..4 {
            out[2 + 4 * ib + k] = (index[k] & 255) as u8;
            qh[ib] |= (index[k] >> 8) << (3 * k);
        }
        scales[ib] = scale;
        shifts[ib] = shift;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale != 0.0 {
        let d = max_scale / 15.0;
        out[..2].copy_from_slice(&to_f16(d * 1.125));
        let id = 1.0 / d;
        for ib in 0..8 {
            let mut l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7) as u16;
            if shifts[ib] == -1 {
                l |= 8;
            }
            qh[ib] |= l << 12;
        }
    }
    for (ib, h) in qh.iter().enumerate() {
        out[34 + 2 * ib..36 + 2 * ib].copy_from_slice(&h.to_le_bytes());
    }
}

/// Prefix sums of `w·x` and `w` over a sorted 16-value sub-block, per half (values 0..8 and
/// 8..16): IQ1_M's split search works on them.
struct HalfSums {
    px: [[f32; 17]; 2],
    pw: [[f32; 17]; 2],
}

fn half_sums(xb: &[f32], weight: &[f32], order: &[u8; 16]) -> HalfSums {
    let (mut px, mut pw) = ([[0f32; 17]; 2], [[0f32; 17]; 2]);
    for (j, &i) in order.iter().enumerate() {
        let i = i as usize;
        let h = (i >= 8) as usize;
        px[h][j + 1] = px[h][j] + weight[i] * xb[i];
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + weight[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
    }
    HalfSums { px, pw }
}

/// The coefficients ggml folds the level values into: `x_p[0]² − x_p[1]²`, `x_p[1]² − x_p[2]²`
/// and the same for `x_m`.
const CP1: f32 = X_P[0] * X_P[0] - X_P[1] * X_P[1];
const CP2: f32 = X_P[1] * X_P[1] - X_P[2] * X_P[2];
const CM1: f32 = X_M[0] * X_M[0] - X_M[1] * X_M[1];
const CM2: f32 = X_M[1] * X_M[1] - X_M[2] * X_M[2];

/// IQ1_M's split search of a sorted 16-value sub-block, with prefix sums per half (each half of
/// eight may take its own shift): the best ((i1, i2, k), scale), k = 2·(first half shifted
/// down) + (second half shifted down).
#[cfg_attr(not(test), allow(dead_code))]
fn best_split_m_ref(sums: &HalfSums) -> Option<((usize, usize, usize), f32)> {
    let HalfSums { px, pw } = sums;
    let (txs, tws) = ([px[0][16], px[1][16]], [pw[0][16], pw[1][16]]);
    let (p2, m2) = (X_P[2], X_M[2]);
    let (cp1, cp2, cm1, cm2) = (CP1, CP2, CM1, CM2);
    let mut best = Best::new();
    for i1 in 0..=16 {
        for i2 in i1..=16 {
            let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) = ([0f32; 2], [0f32; 2], [0f32; 2], [0f32; 2]);
            for h in 0..2 {
                let sx = px[h][i1] + px[h][i2];
                qx_p[h] = txs[h] * p2 - sx;
                qx_m[h] = txs[h] * m2 - sx;
                q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
            }
            let sumqx = [qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]];
            let sumq2 = [q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]];
            for k in 0..4 {
                best.offer(sumqx[k], sumq2[k], (i1, i2, k));
            }
        }
    }
    best.found
}

/// [`best_split_m_ref`] four `i2` at a time, as [`best_split_s`] does it.
fn best_split_m(sums: &HalfSums) -> Option<((usize, usize, usize), f32)> {
    const L: usize = 4;
    let HalfSums { px, pw } = sums;
    let (p2, m2) = (X_P[2], X_M[2]);
    // Per half: the totals' terms, and the padded per-i2 terms.
    let tx_p = [px[0][16] * p2, px[1][16] * p2];
    let tx_m = [px[0][16] * m2, px[1][16] * m2];
    let tw_p = [pw[0][16] * p2 * p2, pw[1][16] * p2 * p2];
    let tw_m = [pw[0][16] * m2 * m2, pw[1][16] * m2 * m2];
    let (mut px2, mut pw2_p, mut pw2_m) = ([[0f32; 17 + L]; 2], [[0f32; 17 + L]; 2], [[0f32; 17 + L]; 2]);
    for h in 0..2 {
        for i2 in 0..=16 {
            px2[h][i2] = px[h][i2];
            pw2_p[h][i2] = pw[h][i2] * CP2;
            pw2_m[h][i2] = pw[h][i2] * CM2;
        }
    }
    let mut best = Best::new();
    for i1 in 0..=16 {
        let head_p = [tw_p[0] + pw[0][i1] * CP1, tw_p[1] + pw[1][i1] * CP1];
        let head_m = [tw_m[0] + pw[0][i1] * CM1, tw_m[1] + pw[1][i1] * CM1];
        for i2 in (i1..=16).step_by(L) {
            let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) =
                ([[0f32; L]; 2], [[0f32; L]; 2], [[0f32; L]; 2], [[0f32; L]; 2]);
            for h in 0..2 {
                for l in 0..L {
                    let sx = px[h][i1] + px2[h][i2 + l];
                    qx_p[h][l] = tx_p[h] - sx;
                    qx_m[h][l] = tx_m[h] - sx;
                    q2_p[h][l] = head_p[h] + pw2_p[h][i2 + l];
                    q2_m[h][l] = head_m[h] + pw2_m[h][i2 + l];
                }
            }
            let (mut sumqx, mut sumq2) = ([[0f32; L]; 4], [[0f32; L]; 4]);
            for l in 0..L {
                sumqx[0][l] = qx_p[0][l] + qx_p[1][l];
                sumqx[1][l] = qx_p[0][l] + qx_m[1][l];
                sumqx[2][l] = qx_m[0][l] + qx_p[1][l];
                sumqx[3][l] = qx_m[0][l] + qx_m[1][l];
                sumq2[0][l] = q2_p[0][l] + q2_p[1][l];
                sumq2[1][l] = q2_p[0][l] + q2_m[1][l];
                sumq2[2][l] = q2_m[0][l] + q2_p[1][l];
                sumq2[3][l] = q2_m[0][l] + q2_m[1][l];
            }
            let n = L.min(17 - i2);
            if (0..4).fold(false, |any, k| any | best.beaten(&sumqx[k], &sumq2[k], n)) {
                for l in 0..n {
                    for k in 0..4 {
                        best.offer(sumqx[k][l], sumq2[k][l], (i1, i2 + l, k));
                    }
                }
            }
        }
    }
    best.found
}

/// The levels of group `k` (0 or 1) of an IQ1_M sub-block with shift pattern `shift`.
fn levels_m(shift: usize, k: usize) -> &'static [f32; 3] {
    let down = if k == 0 { shift >= 2 } else { shift % 2 == 1 };
    if down {
        &X_M
    } else {
        &X_P
    }
}

/// One IQ1_M sub-block: (grid indices of its two groups, scale, shift pattern), or None when it
/// stays zero.
fn sub_block_m(grid: &Grid, xb: &[f32], weight: &[f32]) -> Option<([u16; 2], f32, usize)> {
    if abs_max(xb) < GROUP_MAX_EPS_IQ1_M {
        return None;
    }
    let order = sort_order::<16>(xb);
    let ((i1, i2, mut shift), mut scale) = best_split_m(&half_sums(xb, weight, &order))?;
    let mut l = levels(&order, i1, i2);
    if scale < 0.0 {
        l.iter_mut().for_each(|v| *v = 2 - *v);
        scale = -scale;
        shift = 3 - shift;
    }
    let (index, scale) = grid.snap::<2>(&l, xb, weight, scale, |k| levels_m(shift, k));
    assert!(scale >= 0.0, "IQ1_M: negative scale (ggml asserts)");
    Some((index, scale, shift))
}

/// One 256-value block of IQ1_M (56 bytes: qs[32], qh[16], scales as 4 u16 with the fp16 super-
/// scale in their top nibbles); `qw`: importance weights or None.
pub fn quantize_iq1_m(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];
    let grid = grid();
    out[..56].fill(0);
    let weight = weights(x, qw);
    let mut scales = [0f32; 16];
    let mut shifts = [0usize; 16];
    // Skipped sub-blocks keep index 0, which ggml's last pass reads back from the zeroed bytes.
    let mut indices = [[0u16; 2]; 16];
    let mut max_scale = 0f32;
    for ib in 0..16 {
        let r = 16 * ib..16 * ib + 16;
        let Some((index, scale, shift)) = sub_block_m(grid, &x[r.clone()], &weight[r]) else { continue };
        indices[ib] = index;
        scales[ib] = scale;
        shifts[ib] = shift;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    for ib in 0..16 {
        out[2 * ib] = (indices[ib][0] & 255) as u8;
        out[2 * ib + 1] = (indices[ib][1] & 255) as u8;
        out[32 + ib] = ((indices[ib][0] >> 8) | ((indices[ib][1] >> 8) << 4)) as u8;
    }
    if max_scale == 0.0 {
        return;
    }
    let mut sc = [0u16; 4];
    let mut d = max_scale / 15.0;
    let id = 1.0 / d;
    let (mut sumqx, mut sumq2) = (0f32, 0f32);
    for ib in 0..16 {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
        sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
        out[32 + ib] |= MASKS[shifts[ib]];
        // The rescaled fit of the whole super-block with the sub-block scales as stored.
        for k in 0..2 {
            let (g, xx) = (&grid.points[indices[ib][k] as usize], levels_m(shifts[ib], k));
            for j in 0..8 {
                let i = 16 * ib + 8 * k + j;
                let q = xx[g[j] as usize] * (2 * l + 1) as f32;
                sumqx += weight[i] * q * x[i];
                sumq2 += weight[i] * q * q;
            }
        }
    }
    if sumq2 > 0.0 {
        d = sumqx / sumq2;
    }
    let s = u16::from_le_bytes(to_f16(d * 1.1125));
    sc[0] |= (s & 0x000f) << 12;
    sc[1] |= (s & 0x00f0) << 8;
    sc[2] |= (s & 0x0f00) << 4;
    sc[3] |= s & 0xf000;
    for (i, v) in sc.iter().enumerate() {
        out[48 + 2 * i..50 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
}

/// `iq1s_grid[index][j]` as a float: the level minus one.
fn grid_value(grid: &Grid, index: usize, j: usize) -> f32 {
    (grid.points[index][j] as i32 - 1) as f32
}

pub fn dequantize_iq1_s(b: &[u8], y: &mut [f32]) {
    let grid = grid();
    let d = from_f16(&b[..2]);
    let qs = &b[2..34];
    for ib in 0..8 {
        let qh = u16::from_le_bytes([b[34 + 2 * ib], b[35 + 2 * ib]]);
        let dl = d * (2 * ((qh >> 12) & 7) + 1) as f32;
        let delta = if qh & 0x8000 != 0 { -DELTA } else { DELTA };
        for l in 0..4 {
            let index = qs[4 * ib + l] as usize | ((((qh >> (3 * l)) & 7) as usize) << 8);
            for j in 0..8 {
                y[32 * ib + 8 * l + j] = dl * (grid_value(grid, index, j) + delta);
            }
        }
    }
}

pub fn dequantize_iq1_m(b: &[u8], y: &mut [f32]) {
    let grid = grid();
    let (qs, qh) = (&b[..32], &b[32..48]);
    let sc: [u16; 4] = std::array::from_fn(|i| u16::from_le_bytes([b[48 + 2 * i], b[49 + 2 * i]]));
    let s = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    let d = from_f16(&s.to_le_bytes());
    for ib in 0..8 {
        let dl = [
            d * (2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1) as f32,
            d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1) as f32,
        ];
        for l in 0..4 {
            let h = qh[2 * ib + l / 2] >> (4 * (l % 2));
            let index = qs[4 * ib + l] as usize | (((h & 7) as usize) << 8);
            let delta = if h & 8 != 0 { -DELTA } else { DELTA };
            for j in 0..8 {
                y[32 * ib + 8 * l + j] = dl[l / 2] * (grid_value(grid, index, j) + delta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    /// Sub-blocks with distinct values, ties (±0 included), zeros, mixed magnitudes, subnormals,
    /// infinities and NaN.
    fn values(rng: &mut Rng, kind: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = rng.next();
                match kind % 8 {
                    0 => v * 0.04,
                    1 => (v * 8.0).round() / 4.0,
                    2 => [0.0, -0.0, 0.25, -0.25][(v.to_bits() % 4) as usize],
                    3 => v * [1e-8f32, 1.0, 100.0][i % 3],
                    4 => v * 1e-40,
                    5 if i == 5 => f32::NAN,
                    6 if i == 3 => f32::INFINITY,
                    7 => (v * 3.0).round(),
                    _ => v,
                }
            })
            .collect()
    }

    fn weights_for(rng: &mut Rng, kind: usize, x: &[f32]) -> Vec<f32> {
        x.iter()
            .map(|&v| match kind % 3 {
                0 => v * v,
                1 => (rng.next() + 0.5) * 2.0,
                _ => [0.0, 1.0, 2.0][(rng.next().to_bits() % 3) as usize],
            })
            .collect()
    }

    #[test]
    fn rank_sort_equals_glibc_merge_sort() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for kind in 0..4000 {
            let x = values(&mut rng, kind, 32);
            assert_eq!(sort_order::<32>(&x), sort_order_ref::<32>(&x), "{x:?}");
            assert_eq!(sort_order::<16>(&x), sort_order_ref::<16>(&x), "{x:?}");
        }
        // Ties keep their order (merge sort), -0.0 ties with 0.0.
        let x = [0.5f32, 0.0, -0.0, 0.5, -1.0, 0.0];
        let order = sort_order_ref::<6>(&x);
        assert_eq!(order, [4, 1, 2, 5, 0, 3]);
        assert_eq!(sort_order::<6>(&x), order);
    }

    #[test]
    fn fast_split_searches_equal_the_plain_ones() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for kind in 0..3000 {
            let x = values(&mut rng, kind, 32);
            let w = weights_for(&mut rng, kind / 8, &x);
            let order = sort_order::<32>(&x);
            let (mut sumx, mut sumw) = ([0f32; 33], [0f32; 33]);
            for (j, &i) in order.iter().enumerate() {
                sumx[j + 1] = sumx[j] + w[i as usize] * x[i as usize];
                sumw[j + 1] = sumw[j] + w[i as usize];
            }
            let (fast, plain) = (best_split_s(&sumx, &sumw), best_split_s_ref(&sumx, &sumw));
            assert_eq!(fast.map(|(t, s)| (t, s.to_bits())), plain.map(|(t, s)| (t, s.to_bits())), "{x:?} {w:?}");
            let sums = half_sums(&x[..16], &w[..16], &sort_order::<16>(&x));
            let (fast, plain) = (best_split_m(&sums), best_split_m_ref(&sums));
            assert_eq!(fast.map(|(t, s)| (t, s.to_bits())), plain.map(|(t, s)| (t, s.to_bits())), "{x:?} {w:?}");
        }
    }

    #[test]
    fn fast_neighbour_search_equals_the_plain_one() {
        let grid = grid();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let off_grid: Vec<usize> = grid.map.iter().filter_map(|m| m.err()).filter(|&s| s != usize::MAX).collect();
        assert_eq!(off_grid.len(), 3usize.pow(8) - 2048);
        for (t, &start) in off_grid.iter().enumerate() {
            let kind = t % 4;
            let x = values(&mut rng, kind, 8);
            let w = weights_for(&mut rng, t, &x);
            let scale = (rng.next() + 0.5) * [0.04f32, 1.0, 3e-41, 100.0][kind];
            for xg in [&X_P, &X_M] {
                let plain = std::panic::catch_unwind(|| grid.best_neighbour_ref(start, &x, &w, scale, xg)).ok();
                let fast = std::panic::catch_unwind(|| grid.best_neighbour(start, &x, &w, scale, xg)).ok();
                assert_eq!(fast, plain, "{x:?} {w:?} {scale}");
            }
        }
    }

    /// The grid as ggml-common.h's `iq1s_grid` has it (bytes level − 1), first and last entries,
    /// and neighbour lists as ggml's loop over its sorted (distance, index) pairs makes them.
    #[test]
    fn grid_and_neighbours_match_ggml() {
        let grid = grid();
        let bytes = |i: usize| -> u64 {
            (0..8).map(|j| (grid_value(grid, i, j) as i8 as u8 as u64) << (8 * j)).fold(0, |a, b| a | b)
        };
        assert_eq!(bytes(0), 0xffffffffffffffff);
        assert_eq!(bytes(1), 0xffffffffffffff01);
        assert_eq!(bytes(2), 0xffffffffffff0000);
        assert_eq!(bytes(3), 0xffffffffffff01ff);
        assert_eq!(bytes(2047), 0x0101010101010101);
        for (u, m) in grid.map.iter().enumerate().step_by(7) {
            let Err(start) = *m else { continue };
            if start == usize::MAX {
                continue;
            }
            let pos: Vec<i32> = (0..8).map(|k| 2 * ((u >> (2 * k)) & 3) as i32 + 1).collect();
            let mut dist: Vec<(i32, usize)> = (0..2048)
                .map(|j| ((0..8).map(|k| (2 * grid.points[j][k] as i32 + 1 - pos[k]).pow(2)).sum(), j))
                .collect();
            dist.sort();
            let (mut d2, mut have, mut want) = (dist[0].0, 1, Vec::new());
            for &(d, j) in &dist {
                if d > d2 {
                    if have == 3 {
                        break;
                    }
                    d2 = d;
                    have += 1;
                }
                want.push(j as u16);
            }
            let n = grid.neighbours[start] as usize;
            assert_eq!(&grid.neighbours[start + 1..start + 1 + n], &want[..], "code {u:#x}");
        }
    }

    #[test]
    fn round_trip_and_refusal() {
        let mut rng = Rng(7);
        let x: Vec<f32> = (0..1024).map(|_| rng.next() * 0.04).collect();
        let qw: Vec<f32> = (0..1024).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
        let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        for ty in [crate::GgmlType::IQ1S, crate::GgmlType::IQ1M] {
            let q = crate::codec::quantize_row_weighted(ty, &x, &qw).unwrap();
            let y = crate::dequantize(ty, &q).unwrap();
            let err = (x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / x.len() as f32).sqrt();
            assert!(err < 0.8 * rms, "{ty}: rms error {err} vs signal {rms}");
        }
        let y = crate::dequantize(crate::GgmlType::IQ1M, &crate::quantize(crate::GgmlType::IQ1M, &x).unwrap()).unwrap();
        assert_eq!(y.len(), x.len());
        assert!(crate::quantize(crate::GgmlType::IQ1S, &x).is_err(), "ggml quantizes IQ1_S only with weights");
    }
}
