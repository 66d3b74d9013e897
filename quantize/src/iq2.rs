//! IQ2_XXS, IQ2_XS and IQ2_S: 256-value super-blocks whose groups of eight values are points of a
//! 256-, 512- or 1024-point grid of three levels, signs stored apart, with 4-bit scales per 32
//! (XXS) or 16 (XS, S) values. Quantization searches scales and snaps off-grid groups to their
//! nearest grid neighbours, as ggml's `quantize_row_iq2_xxs_impl` / `_xs_impl` / `_s_impl` do.
//! XXS and XS store seven sign bits per group (an odd count of negatives flips the cheapest value
//! so the eighth is implied) and ggml quantizes them only with importance weights; IQ2_S stores
//! all eight and has a plain path.

use crate::iq2_grids::{KGRID_1024, KGRID_256, KGRID_512};
use crate::kquants::make_qp_quants;
use crate::prim::{from_f16, nearest_int, to_f16};
use std::sync::OnceLock;

const K_MAX_Q: i32 = 3;
/// Codes are eight 2-bit fields.
const MAP_SIZE: usize = 1 << 16;

/// Candidates compared at once by [`Grid::best_neighbour`].
const LANES: usize = 8;

/// A grid with its lookup map and neighbour lists (ggml's `iq2xs_init_impl`).
pub struct Grid {
    /// Level values (2l+1) of each grid point.
    points: Vec<[i8; 8]>,
    /// For each 16-bit code: the grid index (≥ 0), or −(its neighbour list's number + 1).
    map: Vec<i32>,
    /// Neighbour lists as ggml stores them: count, then indices (nearest first, by index on ties).
    neighbours: Vec<u16>,
    /// Per list: its position in `neighbours` and its chunks in `chunks`.
    lists: Vec<(usize, std::ops::Range<usize>)>,
    /// The lists again, LANES candidates per chunk: their values per dimension, and their grid
    /// indices. The last chunk of a list is filled up with copies of its last candidate, which can
    /// never win (a neighbour wins only by a strictly smaller distance).
    chunks: Vec<([[u8; LANES]; 8], [u16; LANES])>,
}

/// The 16-bit code of eight levels.
fn code(l: &[i8]) -> usize {
    (0..8).map(|i| (l[i] as usize) << (2 * i)).sum()
}

/// ggml sorts every grid point by (distance², index) and keeps those within the `nwant` smallest
/// distinct distances; the same lists, found without sorting all of them. Only codes whose levels
/// are all below 3 get a list: no other code is ever looked up (ggml fills its map for those too).
fn build(kgrid: &[u16], nwant: usize) -> Grid {
    let points: Vec<[i8; 8]> =
        kgrid.iter().map(|&g| std::array::from_fn(|i| (2 * ((g >> (2 * i)) & 3) + 1) as i8)).collect();
    let mut map = vec![i32::MIN; MAP_SIZE];
    for (i, p) in points.iter().enumerate() {
        let l: [i8; 8] = std::array::from_fn(|k| (p[k] - 1) / 2);
        map[code(&l)] = i as i32;
    }
    let (mut neighbours, mut lists, mut chunks) = (Vec::new(), Vec::new(), Vec::new());
    let mut dist = vec![0i32; points.len()];
    for u in 0..MAP_SIZE {
        if map[u] >= 0 || (0..8).any(|k| (u >> (2 * k)) & 3 == 3) {
            continue;
        }
        let pos: [i32; 8] = std::array::from_fn(|k| 2 * ((u >> (2 * k)) & 3) as i32 + 1);
        for (d, g) in dist.iter_mut().zip(&points) {
            *d = (0..8).map(|k| (g[k] as i32 - pos[k]).pow(2)).sum();
        }
        // Distances are at most 8·4².
        let mut seen = [false; 129];
        dist.iter().for_each(|&d| seen[d as usize] = true);
        let dist = &dist;
        let near: Vec<(i32, u16)> = (0..129)
            .filter(|&d| seen[d as usize])
            .take(nwant)
            .flat_map(|d| (0..dist.len()).filter(move |&j| dist[j] == d).map(move |j| (d, j as u16)))
            .collect();
        map[u] = -(lists.len() as i32) - 1;
        let first_chunk = chunks.len();
        lists.push((neighbours.len(), first_chunk..first_chunk + near.len().div_ceil(LANES)));
        neighbours.push(near.len() as u16);
        neighbours.extend(near.iter().map(|&(_, j)| j));
        for c in near.chunks(LANES) {
            let index: [u16; LANES] = std::array::from_fn(|k| c[k.min(c.len() - 1)].1);
            let values = std::array::from_fn(|i| std::array::from_fn(|k| points[index[k] as usize][i] as u8));
            chunks.push((values, index));
        }
    }
    Grid { points, map, neighbours, lists, chunks }
}

/// IQ2_XXS's grid (256 points; neighbours within the two nearest distances).
pub fn grid_xxs() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(|| build(&KGRID_256, 2))
}

/// IQ2_XS's grid (512 points; two nearest distances).
pub fn grid_xs() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(|| build(&KGRID_512, 2))
}

/// IQ2_S's grid (1024 points; the nearest distance only).
pub fn grid_s() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(|| build(&KGRID_1024, 1))
}

impl Grid {
    /// `iq2_find_best_neighbour`: the neighbour in list `list` closest to `xval` at `scale`,
    /// weighted by `waux` (the first of the closest, in list order).
    #[cfg_attr(not(test), allow(dead_code))]
    fn best_neighbour_ref(&self, list: usize, xval: &[f32], waux: &[f32], scale: f32) -> usize {
        let start = self.lists[list].0;
        let n = self.neighbours[start] as usize;
        let (mut best, mut index) = (f32::MAX, usize::MAX);
        for &j in &self.neighbours[start + 1..start + 1 + n] {
            let g = &self.points[j as usize];
            let mut d2 = 0f32;
            for i in 0..8 {
                let diff = scale * g[i] as f32 - xval[i];
                d2 += waux[i] * diff * diff;
            }
            if d2 < best {
                best = d2;
                index = j as usize;
            }
        }
        index
    }

    /// [`Grid::best_neighbour_ref`] LANES candidates at a time: each candidate's distance is
    /// the same sum in the same order, so the same one wins.
    fn best_neighbour(&self, list: usize, xval: &[f32], waux: &[f32], scale: f32) -> usize {
        let (mut best, mut index) = (f32::MAX, usize::MAX);
        for (values, indices) in &self.chunks[self.lists[list].1.clone()] {
            let mut d2 = [0f32; LANES];
            for i in 0..8 {
                for k in 0..LANES {
                    let diff = scale * values[i][k] as f32 - xval[i];
                    d2[k] += waux[i] * diff * diff;
                }
            }
            if !d2.iter().fold(false, |any, &d| any | (d < best)) {
                continue;
            }
            for k in 0..LANES {
                if d2[k] < best {
                    best = d2[k];
                    index = indices[k] as usize;
                }
            }
        }
        index
    }

    /// The grid index of eight levels that are on the grid.
    fn index(&self, l: &[i8]) -> usize {
        let i = self.map[code(l)];
        assert!(i >= 0, "found point {l:?} not on the grid");
        i as usize
    }

    /// Levels of one group at inverse scale `id`, snapped to the grid (to the best neighbour at
    /// `scale` when off it); returns whether they were on it.
    fn snap(&self, xval: &[f32], waux: &[f32], id: f32, scale: f32, l: &mut [i8]) -> bool {
        for i in 0..8 {
            l[i] = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, K_MAX_Q - 1) as i8;
        }
        let m = self.map[code(l)];
        if m < 0 {
            let j = self.best_neighbour((-m - 1) as usize, xval, waux, scale);
            // ggml asserts that a neighbour was found (none is when every distance is NaN).
            let g = self.points.get(j).expect("IQ2: no neighbour at a comparable distance");
            for i in 0..8 {
                l[i] = (g[i] - 1) / 2;
            }
        }
        m >= 0
    }
}

/// Σ w·x·q and Σ w·q² of levels `l` (q = 2l+1), in ggml's order.
fn sums(l: &[i8], xval: &[f32], weight: &[f32]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0f32, 0f32);
    for i in 0..l.len() {
        let (w, q) = (weight[i], (2 * l[i] + 1) as f32);
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

/// One sub-block's scale search: `2·steps + 1` trial scales (5 + 0.1·is)/`denom`, each group
/// snapped to the grid, the best kept by Σwxq²/Σwq²; then the groups are snapped again at the
/// chosen scale (all of them for XXS, the off-grid ones for XS and S) and the scale refitted.
/// `scale` and `l` are the starting values, kept when no trial scores.
#[allow(clippy::too_many_arguments)]
fn search<const N: usize>(
    grid: &Grid,
    xval: &[f32; N],
    weight: &[f32; N],
    waux: &[f32; N],
    denom: f32,
    steps: i32,
    mut scale: f32,
    mut l: [i8; N],
    resnap_all: bool,
) -> (f32, [i8; N]) {
    let groups = N / 8;
    let mut best = 0f32;
    let mut on_grid = [true; 4];
    for is in -steps..=steps {
        let id = ((2 * K_MAX_Q - 1) as f32 + is as f32 * 0.1) / denom;
        let this_scale = 1.0 / id;
        let mut laux = [0i8; N];
        let mut on_grid_aux = [true; 4];
        for k in 0..groups {
            let r = 8 * k..8 * k + 8;
            on_grid_aux[k] = grid.snap(&xval[r.clone()], &waux[r.clone()], id, this_scale, &mut laux[r]);
        }
        let (sumqx, sumq2) = sums(&laux, xval, weight);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            l = laux;
            on_grid = on_grid_aux;
        }
    }
    let off_grid = on_grid[..groups].iter().any(|g| !g);
    if (resnap_all || off_grid) && scale > 0.0 {
        let id = 1.0 / scale;
        for k in 0..groups {
            if !resnap_all && on_grid[k] {
                continue;
            }
            let r = 8 * k..8 * k + 8;
            grid.snap(&xval[r.clone()], &waux[r.clone()], id, scale, &mut l[r]);
        }
        let (sumqx, sumq2) = sums(&l, xval, weight);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    (scale, l)
}

/// Σx² of a super-block, in order.
fn sum_x2(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |a, &v| a + v * v)
}

/// |x| of a group of eight and its sign bits. With `parity` (XXS, XS) an odd count of negatives
/// flips the value of least weight·x² so that seven bits suffice.
fn fold_signs(xb: &[f32], weight: &[f32], parity: bool, xval: &mut [f32]) -> u8 {
    let (mut s, mut nflip) = (0u8, 0);
    for i in 0..8 {
        if xb[i] >= 0.0 {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            nflip += 1;
            s |= 1 << i;
        }
    }
    if parity && nflip % 2 == 1 {
        let (mut imin, mut min) = (0, weight[0] * xb[0] * xb[0]);
        for i in 1..8 {
            let ax = weight[i] * xb[i] * xb[i];
            if ax < min {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= 1 << imin;
    }
    if parity {
        s & 127
    } else {
        s
    }
}

/// ggml's `MAX(max, v)` scan.
fn max_of(x: &[f32]) -> f32 {
    x[1..].iter().fold(x[0], |m, &v| if m > v { m } else { v })
}

/// The 4-bit code of a sub-block scale against the super-block scale's inverse `id`.
fn scale_code(id: f32, scale: f32) -> u8 {
    nearest_int(0.5 * (id * scale - 1.0)).clamp(0, 15) as u8
}

/// A sub-block's values, weights and weights' roots, its signs folded in groups of eight.
struct SubBlock<const N: usize> {
    xval: [f32; N],
    weight: [f32; N],
    waux: [f32; N],
    signs: [u8; 4],
}

/// Folds a sub-block's signs (per group of eight) and takes the roots of its weights.
fn sub_block<const N: usize>(xb: &[f32], weight: [f32; N], parity: bool) -> SubBlock<N> {
    let waux = weight.map(f32::sqrt);
    let mut xval = [0f32; N];
    let mut signs = [0u8; 4];
    for k in 0..N / 8 {
        signs[k] = fold_signs(&xb[8 * k..8 * k + 8], &weight[8 * k..8 * k + 8], parity, &mut xval[8 * k..8 * k + 8]);
    }
    SubBlock { xval, weight, waux, signs }
}

/// ggml's importance weights qw·√(σ² + x²).
fn weighted<const N: usize>(xb: &[f32], qw: &[f32], sigma2: f32) -> [f32; N] {
    std::array::from_fn(|i| qw[i] * (sigma2 + xb[i] * xb[i]).sqrt())
}

/// One 256-value block of IQ2_XXS (66 bytes); ggml requires importance weights `qw`.
pub fn quantize_iq2_xxs(x: &[f32], out: &mut [u8], qw: &[f32]) {
    let grid = grid_xxs();
    out[..66].fill(0);
    let sigma2 = sum_x2(&x[..256]) / 256.0;
    let mut q2 = [0u32; 16];
    let mut scales = [0f32; 8];
    let mut max_scale = 0f32;
    for ib in 0..8 {
        let r = 32 * ib..32 * ib + 32;
        let mut sb = sub_block::<32>(&x[r.clone()], weighted(&x[r.clone()], &qw[r], sigma2), true);
        if max_of(&sb.xval) < 1e-15 {
            continue;
        }
        let mut lq = [0u8; 32];
        let scale = make_qp_quants(K_MAX_Q + 1, &sb.xval, &mut lq, &sb.weight);
        let eff_max = scale * K_MAX_Q as f32;
        if eff_max <= 0.0 {
            continue;
        }
        let l0 = lq.map(|v| v as i8);
        let (mut scale, l) = search(grid, &sb.xval, &sb.weight, &sb.waux, eff_max, 6, scale, l0, true);
        if scale < 0.0 {
            // ggml: "should never happen"; the scale is stored unsigned, so flip the signs.
            scale = -scale;
            sb.signs.iter_mut().for_each(|s| *s = !*s & 127);
        }
        for k in 0..4 {
            q2[2 * ib] |= (grid.index(&l[8 * k..8 * k + 8]) as u32) << (8 * k);
            q2[2 * ib + 1] |= (sb.signs[k] as u32) << (7 * k);
        }
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&to_f16(d));
    let id = 1.0 / d;
    for ib in 0..8 {
        q2[2 * ib + 1] |= (scale_code(id, scales[ib]) as u32) << 28;
    }
    for (o, v) in out[2..66].chunks_exact_mut(4).zip(q2) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// The 16-value sub-block search shared by IQ2_XS and IQ2_S: (scale, levels, signs), or None for
/// a sub-block whose largest |x| is below `eps`.
fn search16(grid: &Grid, xb: &[f32], weight: [f32; 16], parity: bool, eps: f32) -> Option<(f32, [i8; 16], [u8; 4])> {
    let mut sb = sub_block::<16>(xb, weight, parity);
    let max = max_of(&sb.xval);
    if max < eps {
        return None;
    }
    let (mut scale, l) = search(grid, &sb.xval, &sb.weight, &sb.waux, max, 9, max / 5.0, [0; 16], false);
    if scale < 0.0 {
        scale = -scale;
        let mask = if parity { 127 } else { 255 };
        sb.signs.iter_mut().for_each(|s| *s = !*s & mask);
    }
    Some((scale, l, sb.signs))
}

/// Sixteen 4-bit sub-block scale codes, two per byte, against the super-block scale `d`.
fn pack_scales(d: f32, scales: &[f32; 16], out: &mut [u8]) {
    let id = 1.0 / d;
    for ib in (0..16).step_by(2) {
        out[ib / 2] = scale_code(id, scales[ib]) | (scale_code(id, scales[ib + 1]) << 4);
    }
}

/// One 256-value block of IQ2_XS (74 bytes); ggml requires importance weights `qw`.
pub fn quantize_iq2_xs(x: &[f32], out: &mut [u8], qw: &[f32]) {
    let grid = grid_xs();
    out[..74].fill(0);
    let sigma2 = sum_x2(&x[..256]) / 256.0;
    let mut q2 = [0u16; 32];
    let mut scales = [0f32; 16];
    let mut max_scale = 0f32;
    for ib in 0..16 {
        let r = 16 * ib..16 * ib + 16;
        let weight = weighted(&x[r.clone()], &qw[r.clone()], sigma2);
        let Some((scale, l, signs)) = search16(grid, &x[r], weight, true, 1e-15) else { continue };
        for k in 0..2 {
            q2[2 * ib + k] = grid.index(&l[8 * k..8 * k + 8]) as u16 | (signs[k] as u16) << 9;
        }
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&to_f16(d));
    pack_scales(d, &scales, &mut out[66..74]);
    for (o, v) in out[2..66].chunks_exact_mut(2).zip(q2) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// One 256-value block of IQ2_S (82 bytes); `qw`: importance weights or None.
pub fn quantize_iq2_s(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let grid = grid_s();
    out[..82].fill(0);
    let sigma2 = 2.0 * sum_x2(&x[..256]) / 256.0;
    let mut scales = [0f32; 16];
    let mut max_scale = 0f32;
    for ib in 0..16 {
        let r = 16 * ib..16 * ib + 16;
        let xb = &x[r.clone()];
        let weight = match qw {
            Some(q) => weighted(xb, &q[r], sigma2),
            None => std::array::from_fn(|i| 0.25 * sigma2 + xb[i] * xb[i]),
        };
        let Some((scale, l, signs)) = search16(grid, xb, weight, false, 1e-8) else { continue };
        for k in 0..2 {
            let (i8, index) = (2 * ib + k, grid.index(&l[8 * k..8 * k + 8]));
            out[2 + i8] = (index & 255) as u8;
            out[2 + 64 + i8 / 4] |= ((index >> 8) << (2 * (i8 % 4))) as u8;
            out[2 + 32 + i8] = signs[k];
        }
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&to_f16(d * 0.9875));
    pack_scales(d, &scales, &mut out[74..82]);
}

/// The byte `iq2*_grid` holds for level l.
const LEVELS: [f32; 3] = [8.0, 25.0, 43.0];

/// `ksigns_iq2xs[i]`: seven sign bits with their parity as the eighth.
fn ksigns(i: u32) -> u8 {
    (i | ((i.count_ones() & 1) << 7)) as u8
}

/// Eight values of grid point `g` at scale `db`, negated where `signs` has a bit.
fn put_group(grid: &Grid, g: usize, db: f32, signs: u8, y: &mut [f32]) {
    for j in 0..8 {
        let level = LEVELS[((grid.points[g][j] - 1) / 2) as usize];
        y[j] = db * level * if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
    }
}

/// `(0.5 + sc)·d/4`, a 4-bit sub-block scale code's value.
fn sub_scale(d: f32, sc: u32) -> f32 {
    d * (0.5 + sc as f32) * 0.25
}

pub fn dequantize_iq2_xxs(b: &[u8], y: &mut [f32]) {
    let grid = grid_xxs();
    let d = from_f16(&b[..2]);
    for ib in 0..8 {
        let q = &b[2 + 8 * ib..10 + 8 * ib];
        let aux = u32::from_le_bytes([q[4], q[5], q[6], q[7]]);
        let db = sub_scale(d, aux >> 28);
        for l in 0..4 {
            put_group(grid, q[l] as usize, db, ksigns((aux >> (7 * l)) & 127), &mut y[32 * ib + 8 * l..]);
        }
    }
}

pub fn dequantize_iq2_xs(b: &[u8], y: &mut [f32]) {
    let grid = grid_xs();
    let d = from_f16(&b[..2]);
    for ib in 0..8 {
        let sc = b[66 + ib] as u32;
        let db = [sub_scale(d, sc & 15), sub_scale(d, sc >> 4)];
        for l in 0..4 {
            let q = u16::from_le_bytes([b[2 + 8 * ib + 2 * l], b[3 + 8 * ib + 2 * l]]) as u32;
            put_group(grid, (q & 511) as usize, db[l / 2], ksigns(q >> 9), &mut y[32 * ib + 8 * l..]);
        }
    }
}

pub fn dequantize_iq2_s(b: &[u8], y: &mut [f32]) {
    let grid = grid_s();
    let d = from_f16(&b[..2]);
    let (qs, signs, qh, scales) = (&b[2..34], &b[34..66], &b[66..74], &b[74..82]);
    for ib in 0..8 {
        let sc = scales[ib] as u32;
        let db = [sub_scale(d, sc & 15), sub_scale(d, sc >> 4)];
        for l in 0..4 {
            let index = qs[4 * ib + l] as usize | (((qh[ib] as usize) << (8 - 2 * l)) & 0x300);
            put_group(grid, index, db[l / 2], signs[4 * ib + l], &mut y[32 * ib + 8 * l..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GgmlType;

    /// Uniform values in [0, 1) from a fixed xorshift.
    fn uniform(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    fn grids() -> [(&'static [u16], usize, &'static Grid); 3] {
        [(&KGRID_256, 2, grid_xxs()), (&KGRID_512, 2, grid_xs()), (&KGRID_1024, 1, grid_s())]
    }

    /// `build` against ggml's own construction: every point sorted by (distance², index), then
    /// taken while within the `nwant` nearest distances.
    #[test]
    fn neighbour_lists_are_ggmls() {
        for (kgrid, nwant, grid) in grids() {
            for u in (0..MAP_SIZE).filter(|u| (0..8).all(|k| (u >> (2 * k)) & 3 != 3)) {
                if let Some(i) = kgrid.iter().position(|&g| g as usize == u) {
                    assert_eq!(grid.map[u], i as i32);
                    continue;
                }
                let mut dist2: Vec<(i32, usize)> = grid
                    .points
                    .iter()
                    .enumerate()
                    .map(|(j, g)| ((0..8).map(|k| (g[k] as i32 - 2 * ((u >> (2 * k)) & 3) as i32 - 1).pow(2)).sum(), j))
                    .collect();
                dist2.sort();
                let (mut d2, mut nhave, mut want) = (dist2[0].0, 1, Vec::new());
                for &(d, j) in &dist2 {
                    if d > d2 {
                        if nhave == nwant {
                            break;
                        }
                        d2 = d;
                        nhave += 1;
                    }
                    want.push(j as u16);
                }
                let start = grid.lists[(-grid.map[u] - 1) as usize].0;
                assert_eq!(&grid.neighbours[start + 1..start + 1 + grid.neighbours[start] as usize], &want[..]);
            }
        }
    }

    /// The chunked neighbour search picks what ggml's scan picks, ties, zero and NaN weights
    /// included.
    #[test]
    fn best_neighbour_matches_ggmls_scan() {
        let mut r = uniform(0x9E37_79B9_7F4A_7C15);
        for (_, _, grid) in grids() {
            for _ in 0..20_000 {
                let list = (r() * grid.lists.len() as f32) as usize;
                let scale = 0.05 + r();
                // Values on the midpoints between levels make exact ties.
                let xval: [f32; 8] = std::array::from_fn(|_| match (r() * 4.0) as u32 {
                    0 => scale * (2 * (r() * 3.0) as i32 + 2) as f32,
                    _ => 6.0 * scale * r(),
                });
                let waux: [f32; 8] = std::array::from_fn(|_| match (r() * 16.0) as u32 {
                    0 => 0.0,
                    1 if r() < 0.05 => f32::NAN,
                    2 => 1.0,
                    _ => 2.0 * r(),
                });
                let want = grid.best_neighbour_ref(list, &xval, &waux, scale);
                assert_eq!(grid.best_neighbour(list, &xval, &waux, scale), want, "{xval:?} {waux:?} {scale}");
            }
        }
    }

    /// ggml refuses IQ2_XXS and IQ2_XS without importance weights; so does the codec.
    #[test]
    fn plain_quantization_is_refused_where_ggml_refuses_it() {
        let mut r = uniform(7);
        let x: Vec<f32> = (0..512).map(|_| r() - 0.5).collect();
        for ty in [GgmlType::IQ2XXS, GgmlType::IQ2XS] {
            assert!(crate::codec::quantize(ty, &x).is_err());
            let q = crate::codec::quantize_row_weighted(ty, &x, &[1.0; 512]).unwrap();
            assert_eq!(q.len(), 2 * ty.type_size());
        }
        assert!(crate::codec::quantize(GgmlType::IQ2S, &x).is_ok());
    }
}
