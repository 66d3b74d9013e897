//! Q2_K and Q3_K: 256-value super-blocks of sixteen 16-value sub-blocks, as ggml's
//! `quantize_row_q2_K_ref` / `quantize_row_q2_K_impl` and `quantize_row_q3_K_ref` /
//! `quantize_row_q3_K_impl` compute them (every float operation in ggml's order), and their
//! dequantizers.
//!
//! Q2_K block (84 bytes): scales[16] (low nibble scale, high nibble min), qs[64] (2-bit codes,
//! four 32-value planes per 128 values), d and dmin (f16). Q3_K block (110 bytes): hmask[32] (the
//! codes' third bit), qs[64] (their low two bits), scales[12] (sixteen 6-bit signed scales), d (f16).

use crate::kquants::{make_qkx3_quants, make_qp_quants, make_qx_quants, GROUP_MAX_EPS, QK_K};
use crate::prim::{from_f16, nearest_int, nearest_int_clamped16, to_f16};

/// Pack Q2_K's 2-bit codes: byte i of each 32-byte group holds values i, i+32, i+64, i+96 of its
/// 128 (shared with Q3_K's low bits).
fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8]) {
    for (h, chunk) in l.chunks_exact(128).enumerate() {
        for i in 0..32 {
            qs[32 * h + i] = chunk[i] | (chunk[i + 32] << 2) | (chunk[i + 64] << 4) | (chunk[i + 96] << 6);
        }
    }
}

/// The codes of every sub-block against the stored scales (ggml requantizes against the rounded
/// ones), then packed: Q2_K's common end.
fn finish_q2_k(x: &[f32], l: &mut [u8; QK_K], out: &mut [u8]) {
    let (d, dmin) = (from_f16(&out[80..82]), from_f16(&out[82..84]));
    for j in 0..16 {
        let dj = d * (out[j] & 0xF) as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = dmin * (out[j] >> 4) as f32;
        let mut f = [0f32; 16];
        for (fi, &v) in f.iter_mut().zip(&x[16 * j..16 * j + 16]) {
            *fi = (v + dm) / dj;
        }
        for (li, q) in l[16 * j..16 * j + 16].iter_mut().zip(nearest_int_clamped16(&f, 0, 3)) {
            *li = q as u8;
        }
    }
    pack_2bit(l, &mut out[16..80]);
}

pub fn quantize_q2_k(x: &[f32], out: &mut [u8]) {
    quantize_q2_k_weighted(x, out, None)
}

/// One Q2_K block; with importance weights ggml's `quantize_row_q2_K_impl`.
pub fn quantize_q2_k_weighted(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let mut l = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 16], [0f32; 16]);
    let mut w = [0f32; 16];
    if let Some(qw) = qw {
        let sum_x2 = x.iter().fold(0f32, |a, &v| a + v * v);
        let sigma2 = sum_x2 / QK_K as f32;
        let mut sw = [0f32; 16];
        for j in 0..16 {
            for i in 0..16 {
                w[i] = qw[16 * j + i] * (sigma2 + x[16 * j + i] * x[16 * j + i]).sqrt();
            }
            sw[j] = w.iter().fold(0f32, |a, &v| a + v);
            (scales[j], mins[j]) =
                make_qkx3_quants(3, &x[16 * j..16 * j + 16], &w, &mut l[16 * j..16 * j + 16], -0.9, 0.05, 36, false);
        }
        let (mut ls, mut lm) = ([0u8; 16], [0u8; 16]);
        let dm = make_qp_quants(15, &scales, &mut ls, &sw);
        let mm = make_qp_quants(15, &mins, &mut lm, &sw);
        out[80..82].copy_from_slice(&to_f16(dm));
        out[82..84].copy_from_slice(&to_f16(mm));
        for j in 0..16 {
            out[j] = ls[j] | (lm[j] << 4);
        }
    } else {
        let (mut max_scale, mut max_min) = (0f32, 0f32);
        for j in 0..16 {
            let xs = &x[16 * j..16 * j + 16];
            for i in 0..16 {
                w[i] = xs[i].abs();
            }
            // ggml's `make_qkx2_quants` with `use_mad`: absolute errors.
            (scales[j], mins[j]) = make_qkx3_quants(3, xs, &w, &mut l[16 * j..16 * j + 16], -0.5, 0.1, 15, true);
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for j in 0..16 {
                out[j] = nearest_int(iscale * scales[j]) as u8;
            }
            out[80..82].copy_from_slice(&to_f16(max_scale / 15.0));
        } else {
            out[..16].fill(0);
            out[80..82].copy_from_slice(&to_f16(0.0));
        }
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for j in 0..16 {
                out[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
            }
            out[82..84].copy_from_slice(&to_f16(max_min / 15.0));
        } else {
            out[82..84].copy_from_slice(&to_f16(0.0));
        }
    }
    finish_q2_k(x, &mut l, out);
}

pub fn dequantize_q2_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (from_f16(&b[80..82]), from_f16(&b[82..84]));
    for h in 0..2 {
        let q = &b[16 + 32 * h..16 + 32 * h + 32];
        for j in 0..4 {
            let shift = 2 * j;
            for half in 0..2 {
                let sc = b[8 * h + 2 * j + half];
                let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                for i in 0..16 {
                    let code = (q[16 * half + i] >> shift) & 3;
                    y[128 * h + 32 * j + 16 * half + i] = dl * code as f32 - ml;
                }
            }
        }
    }
}

/// `make_q3_quants`' candidate move of each value given the sums: the sums without it
/// (Σw·x·l − w·x·lᵢ, Σw·l² − w·lᵢ²) and `nearest_int(x·sl2/slx)` before the clamp, each as
/// ggml evaluates it (a loop over arrays, so it vectorizes).
struct Moves {
    slx: [f32; 16],
    sl2: [f32; 16],
    q: [i32; 16],
}

impl Moves {
    fn score(x: &[f32], w: &[f32; 16], wx: &[f32; 16], l: &[i8], sumlx: f32, suml2: f32) -> Moves {
        let mut m = Moves { slx: [0.0; 16], sl2: [0.0; 16], q: [0; 16] };
        for i in 0..16 {
            let li = l[i] as f32;
            m.slx[i] = sumlx - wx[i] * li;
            m.sl2[i] = suml2 - w[i] * li * li;
            m.q[i] = nearest_int(x[i] * m.sl2[i] / m.slx[i]);
        }
        m
    }
}

/// ggml's `make_q3_quants` with `do_rmse`: the symmetric scale, then up to five rounds of moving
/// single codes while the x²-weighted fit improves. `l` gets codes + nmax.
fn make_q3_quants(nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
    let (x, l) = (&x[..16], &mut l[..16]);
    #[cfg(target_arch = "x86_64")]
    let (amax, max) = crate::sse2::signed_max16(x);
    #[cfg(not(target_arch = "x86_64"))]
    let (amax, max) = crate::prim::signed_max(x);
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let products: [f32; 16] = std::array::from_fn(|i| iscale * x[i]);
    let qf = nearest_int_clamped16(&products, -nmax, nmax - 1).map(|q| q as f32);
    // The weights x² and the products w·x, once (ggml evaluates `w*x[i]*l` as (w·x)·l).
    let (mut w, mut wx) = ([0f32; 16], [0f32; 16]);
    for i in 0..16 {
        w[i] = x[i] * x[i];
        wx[i] = w[i] * x[i];
    }
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for i in 0..16 {
        let q = qf[i];
        l[i] = q as i8;
        sumlx += wx[i] * q;
        suml2 += w[i] * q * q;
    }
    // Each value's move is scored against the sums as they are when the walk reaches it; they
    // change only when a move is taken (rarely), so all sixteen are scored at once from the
    // current sums, and scored again after each move taken.
    for _ in 0..5 {
        let mut changed = 0;
        let mut moves = Moves::score(x, &w, &wx, l, sumlx, suml2);
        for i in 0..16 {
            let (mut slx, mut sl2, q) = (moves.slx[i], moves.sl2[i], moves.q[i]);
            if slx > 0.0 {
                let new_l = q.clamp(-nmax, nmax - 1);
                if new_l != l[i] as i32 {
                    slx += wx[i] * new_l as f32;
                    sl2 += w[i] * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed += 1;
                        moves = Moves::score(x, &w, &wx, l, sumlx, suml2);
                    }
                }
            }
        }
        if changed == 0 {
            break;
        }
    }
    for li in l.iter_mut() {
        *li += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Store scale `j` (6 bits, already offset by 32) in Q3_K's packing.
fn put_q3_scale(scales: &mut [u8], j: usize, l: u8) {
    if j < 8 {
        scales[j] = l & 0xF;
    } else {
        scales[j - 8] |= (l & 0xF) << 4;
    }
    scales[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
}

/// Scale `j` of a Q3_K block, signed.
fn q3_scale(scales: &[u8], j: usize) -> i32 {
    let low = if j < 8 { scales[j] & 0xF } else { scales[j - 8] >> 4 };
    (low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i32 - 32
}

pub fn quantize_q3_k(x: &[f32], out: &mut [u8]) {
    quantize_q3_k_weighted(x, out, None)
}

/// One Q3_K block; with importance weights ggml's `quantize_row_q3_K_impl`.
pub fn quantize_q3_k_weighted(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let (hmask, rest) = out.split_at_mut(32);
    let (qs, rest) = rest.split_at_mut(64);
    let (sc, d16) = rest.split_at_mut(12);
    sc.fill(0);
    if let Some(qw) = qw {
        let sum_x2 = x.iter().fold(0f32, |a, &v| a + v * v);
        let sigma2 = 2.0 * sum_x2 / QK_K as f32;
        let (mut w, mut sw) = ([0f32; 16], [0f32; 16]);
        for j in 0..16 {
            for i in 0..16 {
                w[i] = qw[16 * j + i] * (sigma2 + x[16 * j + i] * x[16 * j + i]).sqrt();
            }
            sw[j] = w.iter().fold(0f32, |a, &v| a + v);
            scales[j] = make_qx_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16], Some(&w));
        }
        let mut ls = [0i8; 16];
        let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
        for (j, &v) in ls.iter().enumerate() {
            put_q3_scale(sc, j, v as u8);
        }
        d16.copy_from_slice(&to_f16(d_block));
    } else {
        let (mut max_scale, mut amax) = (0f32, 0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for j in 0..16 {
                let v = nearest_int(iscale * scales[j]) as i8;
                put_q3_scale(sc, j, (v.clamp(-32, 31) + 32) as u8);
            }
            d16.copy_from_slice(&to_f16(1.0 / iscale));
        } else {
            d16.copy_from_slice(&to_f16(0.0));
        }
    }
    let d = from_f16(d16);
    for j in 0..16 {
        let dj = d * q3_scale(sc, j) as f32;
        if dj == 0.0 {
            continue;
        }
        let mut f = [0f32; 16];
        for (fi, &v) in f.iter_mut().zip(&x[16 * j..16 * j + 16]) {
            *fi = v / dj;
        }
        for (li, q) in l[16 * j..16 * j + 16].iter_mut().zip(nearest_int_clamped16(&f, -4, 3)) {
            *li = (q + 4) as i8;
        }
    }
    // The third bit: values 0..31 in bit 0 of hmask[0..32], 32..63 in bit 1, and so on.
    hmask.fill(0);
    let mut low = [0u8; QK_K];
    // Codes are 0..7, so "above 3" is bit 2: value 32k + i sets bit k of hmask[i].
    for (i, h) in hmask.iter_mut().enumerate() {
        *h = (0..8).fold(0u8, |m, k| m | (((l[32 * k + i] as u8) >> 2) & 1) << k);
    }
    for (lo, &v) in low.iter_mut().zip(&l) {
        *lo = v as u8 & 3;
    }
    pack_2bit(&low, qs);
}

pub fn dequantize_q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs, sc) = (&b[..32], &b[32..96], &b[96..108]);
    let d = from_f16(&b[108..110]);
    for h in 0..2 {
        let q = &qs[32 * h..32 * h + 32];
        for j in 0..4 {
            let (shift, bit) = (2 * j, 1u8 << (4 * h + j));
            for half in 0..2 {
                let dl = d * q3_scale(sc, 8 * h + 2 * j + half) as f32;
                for i in 0..16 {
                    let k = 16 * half + i;
                    let code = ((q[k] >> shift) & 3) as i32 - if hmask[k] & bit != 0 { 0 } else { 4 };
                    y[128 * h + 32 * j + 16 * half + i] = dl * code as f32;
                }
            }
        }
    }
}
