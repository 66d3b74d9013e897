//! IQ4_NL: 32 values, 4-bit indices into a non-linear table (ggml `quantize_row_iq4_nl_impl`
//! with ntry 7; the fallback of IQ3 types when a row is not a multiple of 256), and IQ4_XS: the
//! same indices with a 6-bit scale per 32 under one f16 scale per 256.

use crate::prim::{from_f16, nearest_int, to_f16};

pub const KVALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

fn best_index(x: f32) -> usize {
    let v = |i: usize| KVALUES[i] as f32;
    if x <= v(0) {
        return 0;
    }
    if x >= v(15) {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < v(mav) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - v(mu - 1) < v(mu) - x {
        mu - 1
    } else {
        mu
    }
}

/// `KVALUES[best_index(id·x)]` for 32 values, branch-free so that it vectorizes: the index is
/// the number of neighbour pairs (v[i−1], v[i]) for which `best_index`'s last comparison,
/// `a − v[i−1] < v[i] − a`, fails. Below a pair it holds and above it fails, so the count is the
/// binary search's answer (NaN fails every comparison: index 15, as the search ends there too).
fn table_values(x: &[f32], id: f32) -> [f32; 32] {
    let mut q = [0f32; 32];
    for (qj, &xj) in q.iter_mut().zip(x) {
        let a = id * xj;
        let mut v = KVALUES[0] as f32;
        for i in 1..16 {
            let (lo, hi) = (KVALUES[i - 1] as f32, KVALUES[i] as f32);
            if !(a - lo < hi - a) {
                v += hi - lo;
            }
        }
        *qj = v;
    }
    q
}

/// The scale of one 32-value block (the inner search of ggml's `quantize_row_iq4_nl_impl` with
/// ntry 7) for weights `w`; 0 for a block that is all (near) zero.
fn block_scale(x: &[f32], w: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < 1e-15 {
        return 0.0;
    }
    let sums = |id: f32| {
        let q = table_values(x, id);
        let (mut sumqx, mut sumq2) = (0f32, 0f32);
        for j in 0..32 {
            sumqx += w[j] * q[j] * x[j];
            sumq2 += w[j] * q[j] * q[j];
        }
        (sumqx, sumq2)
    };
    let d = -max / -127.0;
    let (sumqx, sumq2) = sums(1.0 / d);
    let mut d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    for itry in -7..=7 {
        let (sumqx, sumq2) = sums((itry - 127) as f32 / max);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// The 4-bit indices of 32 values at scale `id`, packed: byte j holds values j and j + 16.
fn pack_indices(x: &[f32], id: f32, out: &mut [u8]) {
    for j in 0..16 {
        out[j] = best_index(id * x[j]) as u8 | ((best_index(id * x[j + 16]) as u8) << 4);
    }
}

/// One block of 32; `weights` are importance weights (None: `x²`).
pub fn quantize_iq4_nl(x: &[f32], out: &mut [u8], weights: Option<&[f32]>) {
    let w: Vec<f32> = match weights {
        Some(q) => q.to_vec(),
        None => x.iter().map(|v| v * v).collect(),
    };
    let d = block_scale(x, &w);
    out[..2].copy_from_slice(&to_f16(d));
    // A zero block still gets indices: best_index(0), value 1 (index 8).
    pack_indices(x, if d != 0.0 { 1.0 / d } else { 0.0 }, &mut out[2..18]);
}

/// IQ4_XS (136 bytes per 256): d (f16), scales_h (u16: bits 4-5 of each block's 6-bit scale),
/// scales_l[4] (their low nibbles), qs[128] (IQ4_NL's indices, 16 bytes per 32 values). ggml's
/// `quantize_row_iq4_nl_impl` with super-block 256: each 32's scale, then all against one f16 `d`.
pub fn quantize_iq4_xs(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let sigma2 = x.iter().fold(0f32, |a, &v| a + v * v) * (2.0 / 256.0);
    let mut scales = [0f32; 8];
    let (mut max_scale, mut amax_scale) = (0f32, 0f32);
    let mut w = [0f32; 32];
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        for j in 0..32 {
            w[j] = match qw {
                Some(q) => q[32 * ib + j] * (sigma2 + xb[j] * xb[j]).sqrt(),
                None => xb[j] * xb[j],
            };
        }
        scales[ib] = block_scale(xb, &w);
        if scales[ib].abs() > amax_scale {
            amax_scale = scales[ib].abs();
            max_scale = scales[ib];
        }
    }
    // The indices use the f32 `d`, not its f16 rounding.
    let d = -max_scale / 32.0;
    out[..2].copy_from_slice(&to_f16(d));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut scales_h = 0u16;
    out[4..8].fill(0);
    for ib in 0..8 {
        let l = nearest_int(id * scales[ib]).clamp(-32, 31);
        let dl = d * l as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        pack_indices(&x[32 * ib..32 * ib + 32], idl, &mut out[8 + 16 * ib..24 + 16 * ib]);
        let l = (l + 32) as u8;
        out[4 + ib / 2] |= (l & 0xF) << (4 * (ib % 2));
        scales_h |= ((l >> 4) as u16) << (2 * ib);
    }
    out[2..4].copy_from_slice(&scales_h.to_le_bytes());
}

pub fn dequantize_iq4_xs(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    for ib in 0..8 {
        let ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) as i32 | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
        let dl = d * (ls - 32) as f32;
        dequantize_iq4_nl_values(dl, &b[8 + 16 * ib..24 + 16 * ib], &mut y[32 * ib..32 * ib + 32]);
    }
}

fn dequantize_iq4_nl_values(d: f32, qs: &[u8], y: &mut [f32]) {
    for j in 0..16 {
        y[j] = d * KVALUES[(qs[j] & 15) as usize] as f32;
        y[j + 16] = d * KVALUES[(qs[j] >> 4) as usize] as f32;
    }
}

pub fn dequantize_iq4_nl(b: &[u8], y: &mut [f32]) {
    dequantize_iq4_nl_values(from_f16(&b[..2]), &b[2..18], y);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The branch-free table lookup equals the binary search it replaces, at the midpoints, on
    /// each side of them, at the ends, and for NaN and infinities.
    #[test]
    fn table_values_equal_best_index() {
        let mut probes = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-30, -1e-30];
        for i in 0..16 {
            let v = KVALUES[i] as f32;
            probes.extend([v, v.next_up(), v.next_down(), v * 2.0, v * 0.5]);
            if i > 0 {
                let m = (KVALUES[i - 1] as f32 + v) / 2.0;
                probes.extend([m, m.next_up(), m.next_down()]);
            }
        }
        for chunk in probes.chunks(32) {
            let mut x = [0f32; 32];
            x[..chunk.len()].copy_from_slice(chunk);
            for id in [1.0f32, 0.37, -2.5] {
                let got = table_values(&x, id);
                for (j, &v) in x.iter().enumerate() {
                    let want = KVALUES[best_index(id * v)] as f32;
                    assert_eq!(got[j].to_bits(), want.to_bits(), "x {v} id {id}");
                }
            }
        }
    }
}
