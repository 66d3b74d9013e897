//! IQ3_XXS and IQ3_S: 256-value super-blocks of 32-value sub-blocks, each group of four values a
//! point of a 256- (XXS) or 512-point (S) grid of odd levels, signs stored apart. Quantization
//! searches scales and snaps off-grid points to their nearest grid neighbours, as ggml's
//! `quantize_row_iq3_xxs_impl` / `quantize_row_iq3_s_impl` do (with their quirks: IQ3_S does not
//! advance its index and sign pointers past an all-zero sub-block).

use crate::iq3_grids::{KGRID_256, KGRID_512};
use crate::prim::{from_f16, nearest_int, to_f16};
use std::sync::OnceLock;

const K_MAX_Q: i32 = 8;

/// A grid with its lookup map and neighbour lists (ggml's `iq3xs_init_impl`).
pub struct Grid {
    /// Level values (2l+1) of each grid point.
    points: Vec<[i8; 4]>,
    /// For each 12-bit code: the grid index, or the neighbour list's position.
    map: Vec<Result<u16, usize>>,
    /// Neighbour lists: count, then indices.
    neighbours: Vec<u16>,
}

fn build(kgrid: &[u16], nwant: usize) -> Grid {
    let points: Vec<[i8; 4]> =
        kgrid.iter().map(|&g| std::array::from_fn(|i| (2 * ((g >> (3 * i)) & 7) + 1) as i8)).collect();
    let mut map: Vec<Result<u16, usize>> = vec![Err(usize::MAX); 4096];
    for (i, p) in points.iter().enumerate() {
        let u: usize = (0..4).map(|k| (((p[k] - 1) / 2) as usize) << (3 * k)).sum();
        map[u] = Ok(i as u16);
    }
    let mut neighbours = Vec::new();
    for u in 0..4096 {
        if map[u].is_ok() {
            continue;
        }
        let pos: [i32; 4] = std::array::from_fn(|k| 2 * ((u >> (3 * k)) & 7) as i32 + 1);
        let mut dist: Vec<(i32, usize)> =
            points.iter().enumerate().map(|(j, g)| ((0..4).map(|k| (g[k] as i32 - pos[k]).pow(2)).sum(), j)).collect();
        dist.sort();
        let start = neighbours.len();
        neighbours.push(0);
        let (mut d2, mut have, mut n) = (dist[0].0, 1, 0);
        for &(d, j) in &dist {
            if d > d2 {
                if have == nwant {
                    break;
                }
                d2 = d;
                have += 1;
            }
            neighbours.push(j as u16);
            n += 1;
        }
        neighbours[start] = n;
        map[u] = Err(start);
    }
    Grid { points, map, neighbours }
}

pub fn grid_256() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(|| build(&KGRID_256, 2))
}

pub fn grid_512() -> &'static Grid {
    static G: OnceLock<Grid> = OnceLock::new();
    G.get_or_init(|| build(&KGRID_512, 3))
}

impl Grid {
    /// `iq3_find_best_neighbour`: the neighbour of code `u` closest (weighted) to `xval` at `scale`.
    fn best_neighbour(&self, start: usize, xval: &[f32], waux: &[f32], scale: f32, l: &mut [i8]) -> usize {
        let n = self.neighbours[start] as usize;
        let (mut best, mut index) = (f32::MAX, usize::MAX);
        for &j in &self.neighbours[start + 1..start + 1 + n] {
            let g = &self.points[j as usize];
            let mut d2 = 0f32;
            for i in 0..4 {
                let diff = scale * g[i] as f32 - xval[i];
                d2 += waux[i] * diff * diff;
            }
            if d2 < best {
                best = d2;
                index = j as usize;
            }
        }
        for i in 0..4 {
            l[i] = (self.points[index][i] - 1) / 2;
        }
        index
    }

    fn code(l: &[i8]) -> usize {
        (0..4).map(|i| (l[i] as usize) << (3 * i)).sum()
    }
}

/// One 32-value sub-block's search; returns (scale, L) or None for an all-zero sub-block.
fn sub_block(grid: &Grid, xval: &[f32], weight: &[f32], xxs: bool) -> (f32, [i8; 32]) {
    let waux: Vec<f32> = weight.iter().map(|w| w.sqrt()).collect();
    let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
    let mut l = [0i8; 32];
    let mut laux = [0i8; 32];
    let mut best = 0f32;
    let mut scale = max / (2 * K_MAX_Q - 1) as f32;
    let mut on_grid = [xxs; 8];
    let mut on_grid_aux = [true; 8];
    let range = if xxs { -15..=15 } else { -9..=9 };
    for is in range {
        let id = ((2 * K_MAX_Q - 1) as f32 + is as f32 * 0.2) / max;
        let this_scale = 1.0 / id;
        for k in 0..8 {
            for i in 0..4 {
                let q = nearest_int(0.5 * (id * xval[4 * k + i] - 1.0));
                laux[4 * k + i] = q.clamp(0, K_MAX_Q - 1) as i8;
            }
            on_grid_aux[k] = true;
            if let Err(start) = grid.map[Grid::code(&laux[4 * k..4 * k + 4])] {
                on_grid_aux[k] = false;
                grid.best_neighbour(
                    start,
                    &xval[4 * k..4 * k + 4],
                    &waux[4 * k..4 * k + 4],
                    this_scale,
                    &mut laux[4 * k..4 * k + 4],
                );
            }
        }
        let (mut sumqx, mut sumq2) = (0f32, 0f32);
        for i in 0..32 {
            let q = (2 * laux[i] + 1) as f32;
            sumqx += weight[i] * xval[i] * q;
            sumq2 += weight[i] * q * q;
        }
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            l = laux;
            on_grid = on_grid_aux;
        }
    }
    if on_grid.iter().any(|g| !g) && scale > 0.0 {
        let id = 1.0 / scale;
        for k in 0..8 {
            if xxs && on_grid[k] {
                continue;
            }
            let mut u = 0usize;
            for i in 0..4 {
                let q = nearest_int(0.5 * (id * xval[4 * k + i] - 1.0)).clamp(0, K_MAX_Q - 1);
                u |= (q as usize) << (3 * i);
            }
            let index = match grid.map[u] {
                Ok(g) => g as usize,
                Err(start) => grid.best_neighbour(
                    start,
                    &xval[4 * k..4 * k + 4],
                    &waux[4 * k..4 * k + 4],
                    scale,
                    &mut l[4 * k..4 * k + 4],
                ),
            };
            for i in 0..4 {
                l[4 * k + i] = (grid.points[index][i] - 1) / 2;
            }
        }
        let (mut sumqx, mut sumq2) = (0f32, 0f32);
        for i in 0..32 {
            let q = (2 * l[i] + 1) as f32;
            sumqx += weight[i] * xval[i] * q;
            sumq2 += weight[i] * q * q;
        }
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    (scale, l)
}

fn weights(x: &[f32], qw: Option<&[f32]>, sigma2: f32) -> Vec<f32> {
    match qw {
        Some(q) => x.iter().zip(q).map(|(&v, &w)| w * (sigma2 + v * v).sqrt()).collect(),
        None => x.iter().map(|v| v * v).collect(),
    }
}

fn sigma2(x: &[f32]) -> f32 {
    2.0 * x.iter().fold(0f32, |a, &v| a + v * v) / 256.0
}

/// One 256-value block of IQ3_XXS (98 bytes); `qw`: importance weights or None.
pub fn quantize_iq3_xxs(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let grid = grid_256();
    out[..98].fill(0);
    let s2 = sigma2(x);
    let mut q3 = [0u8; 96];
    let mut scales = [0f32; 8];
    let mut max_scale = 0f32;
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        let weight = weights(xb, qw.map(|q| &q[32 * ib..32 * ib + 32]), s2);
        let mut xval = [0f32; 32];
        let mut signs = [0u8; 4];
        for k in 0..4 {
            let (mut nflip, mut s) = (0, 0u8);
            for i in 0..8 {
                let v = xb[8 * k + i];
                if v >= 0.0 {
                    xval[8 * k + i] = v;
                } else {
                    xval[8 * k + i] = -v;
                    nflip += 1;
                    s |= 1 << i;
                }
            }
            if nflip % 2 == 1 {
                // Odd sign count: flip the cheapest value so the parity is implied.
                let (mut imin, mut min) = (0, weight[8 * k] * xb[8 * k] * xb[8 * k]);
                for i in 1..8 {
                    let ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if ax < min {
                        min = ax;
                        imin = i;
                    }
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s ^= 1 << imin;
            }
            signs[k] = s & 127;
        }
        let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
        if max < 1e-8 {
            continue;
        }
        let (mut scale, l) = sub_block(grid, &xval, &weight, true);
        if scale < 0.0 {
            scale = -scale;
            for s in signs.iter_mut() {
                *s = !*s & 127;
            }
        }
        for k in 0..8 {
            q3[8 * ib + k] = grid.map[Grid::code(&l[4 * k..4 * k + 4])].expect("on the grid") as u8;
        }
        let word = signs[0] as u32 | (signs[1] as u32) << 7 | (signs[2] as u32) << 14 | (signs[3] as u32) << 21;
        q3[64 + 4 * ib..68 + 4 * ib].copy_from_slice(&word.to_le_bytes());
        scales[ib] = scale;
        max_scale = max_scale.max(scale);
    }
    if max_scale == 0.0 {
        return;
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&to_f16(d * 1.0125));
    let id = 1.0 / d;
    for ib in 0..8 {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15) as u32;
        let at = 64 + 4 * ib;
        let word = u32::from_le_bytes(q3[at..at + 4].try_into().expect("4")) | (l << 28);
        q3[at..at + 4].copy_from_slice(&word.to_le_bytes());
    }
    out[2..98].copy_from_slice(&q3);
}

/// One 256-value block of IQ3_S (110 bytes).
pub fn quantize_iq3_s(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let grid = grid_512();
    out[..110].fill(0);
    let s2 = sigma2(x);
    let (mut qs_at, mut signs_at) = (2usize, 2 + 64 + 8);
    let mut scales = [0f32; 8];
    let mut max_scale = 0f32;
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        let weight = weights(xb, qw.map(|q| &q[32 * ib..32 * ib + 32]), s2);
        let mut xval = [0f32; 32];
        let mut signs = [0u8; 4];
        for k in 0..4 {
            for i in 0..8 {
                let v = xb[8 * k + i];
                if v >= 0.0 {
                    xval[8 * k + i] = v;
                } else {
                    xval[8 * k + i] = -v;
                    signs[k] |= 1 << i;
                }
            }
        }
        let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
        if max == 0.0 {
            // ggml does not advance its index and sign positions here (kept for identical bytes).
            continue;
        }
        let (mut scale, l) = sub_block(grid, &xval, &weight, false);
        if scale < 0.0 {
            scale = -scale;
            for s in signs.iter_mut() {
                *s = !*s;
            }
        }
        for k in 0..8 {
            let index = grid.map[Grid::code(&l[4 * k..4 * k + 4])].expect("on the grid") as usize;
            out[qs_at + k] = (index & 255) as u8;
            out[2 + 64 + (ib * 8 + k) / 8] |= ((index >> 8) << ((ib * 8 + k) % 8)) as u8;
        }
        qs_at += 8;
        out[signs_at..signs_at + 4].copy_from_slice(&signs);
        signs_at += 4;
        scales[ib] = scale;
        max_scale = max_scale.max(scale);
    }
    if max_scale == 0.0 {
        return;
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&to_f16(d * 1.033));
    let id = 1.0 / d;
    for ib in (0..8).step_by(2) {
        let l1 = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15) as u8;
        let l2 = nearest_int(0.5 * (id * scales[ib + 1] - 1.0)).clamp(0, 15) as u8;
        out[2 + 64 + 8 + 32 + ib / 2] = l1 | (l2 << 4);
    }
}

/// `ksigns_iq2xs[i]`: i with its parity as bit 7.
fn ksigns(i: u32) -> u8 {
    (i | ((i.count_ones() & 1) << 7)) as u8
}

const XXS_LEVELS: [f32; 8] = [4.0, 12.0, 20.0, 28.0, 36.0, 44.0, 52.0, 62.0];

pub fn dequantize_iq3_xxs(b: &[u8], y: &mut [f32]) {
    let grid = grid_256();
    let d = from_f16(&b[..2]);
    let (qs, ss) = (&b[2..66], &b[66..98]);
    for ib in 0..8 {
        let aux = u32::from_le_bytes(ss[4 * ib..4 * ib + 4].try_into().expect("4"));
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for l in 0..4 {
            let signs = ksigns((aux >> (7 * l)) & 127);
            for (half, &gi) in [qs[8 * ib + 2 * l], qs[8 * ib + 2 * l + 1]].iter().enumerate() {
                let g = &grid.points[gi as usize];
                for j in 0..4 {
                    let level = XXS_LEVELS[((g[j] - 1) / 2) as usize];
                    let neg = signs & (1 << (j + 4 * half)) != 0;
                    y[32 * ib + 8 * l + 4 * half + j] = db * level * if neg { -1.0 } else { 1.0 };
                }
            }
        }
    }
}

pub fn dequantize_iq3_s(b: &[u8], y: &mut [f32]) {
    let grid = grid_512();
    let d = from_f16(&b[..2]);
    let (qs, qh, signs, scales) = (&b[2..66], &b[66..74], &b[74..106], &b[106..110]);
    for ib in 0..8 {
        let sc = if ib % 2 == 0 { scales[ib / 2] & 15 } else { scales[ib / 2] >> 4 };
        let db = d * (1 + 2 * sc as i32) as f32;
        for l in 0..4 {
            for half in 0..2 {
                let k = 2 * l + half;
                let index = qs[8 * ib + k] as usize | ((((qh[ib] as usize) >> k) & 1) << 8);
                let g = &grid.points[index];
                for j in 0..4 {
                    let neg = signs[4 * ib + l] & (1 << (j + 4 * half)) != 0;
                    y[32 * ib + 8 * l + 4 * half + j] = db * g[j] as f32 * if neg { -1.0 } else { 1.0 };
                }
            }
        }
    }
}
