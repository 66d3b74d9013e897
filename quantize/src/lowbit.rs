//! The 1- and 2-bit types with one f16 scale per block, as ggml's `quantize_row_*_ref` write
//! them; all ignore importance weights. The ternary TQ1_0 and TQ2_0 (values −1, 0, +1 per 256),
//! Q1_0 (a sign bit per value, scale = mean |x|, 128 per block: 2 + 16 bytes) and Q2_0 (codes
//! −1, 0, 1, 2 per 64: 2 + 16 bytes).
//!
//! TQ1_0 block (54 bytes): qs[48] (five trits per byte, as a base-3 fraction scaled to 256: the
//! first 32 bytes take values j, j+32, …, j+128 of the first 160; the next 16 the same on 80),
//! qh[4] (four trits per byte of the last 16 values), d. TQ2_0 block (66 bytes): qs[64] (2 bits
//! per value, four 32-value planes per 128), d.

use crate::prim::{cvtt, from_f16, roundf, to_f16};

/// C's `(int) lroundf(v)` on x86-64: half away from zero; out of range (an infinite `1/d` times
/// a value) gives `LONG_MIN`, whose low 32 bits are 0.
fn lround(v: f32) -> i32 {
    let r = roundf(v);
    if r.is_finite() && r.abs() < 9.2e18 {
        r as i64 as i32
    } else {
        0
    }
}

/// `lround(v) + 1` for every value: 0, 1 or 2 wherever |v| < 1.5 (which covers every finite
/// x·(1/amax)), computed branch-free so that it vectorizes; anything else the general way.
fn trits(x: &[f32], id: f32) -> [u8; 256] {
    let mut t = [0u8; 256];
    for (ti, &v) in t.iter_mut().zip(x) {
        let v = v * id;
        *ti = if v.abs() < 1.5 { 1 + (v >= 0.5) as u8 - (v <= -0.5) as u8 } else { (lround(v) + 1) as u8 };
    }
    t
}

/// Absolute max as the scale, and its inverse (0 for a zero block).
fn scale(x: &[f32]) -> (f32, f32) {
    let d = x.iter().fold(0f32, |m, &v| if m > v.abs() { m } else { v.abs() });
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// Pack `n` trits (`t[k·stride]` for k < n) into one byte: base 3, most significant first, then
/// scaled by 256/243 rounding up (`pad` more trits of 0 shift short groups to the top).
fn pack_trits(t: &[u8], stride: usize, n: usize, pad: usize) -> u8 {
    let mut q = 0u8;
    for k in 0..n {
        q = q.wrapping_mul(3).wrapping_add(t[k * stride]);
    }
    for _ in 0..pad {
        q = q.wrapping_mul(3);
    }
    ((q as u16 * 256 + 242) / 243) as u8
}

pub fn quantize_tq1_0(x: &[f32], out: &mut [u8]) {
    let (d, id) = scale(x);
    out[52..54].copy_from_slice(&to_f16(d));
    let t = trits(x, id);
    for m in 0..32 {
        out[m] = pack_trits(&t[m..], 32, 5, 0);
    }
    for m in 0..16 {
        out[32 + m] = pack_trits(&t[160 + m..], 16, 5, 0);
    }
    for j in 0..4 {
        out[48 + j] = pack_trits(&t[240 + j..], 4, 4, 1);
    }
}

/// Trit `n` (0 = most significant) of a packed byte, as −1, 0 or +1.
fn trit(b: u8, n: usize) -> f32 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let q = b.wrapping_mul(POW3[n]);
    (((q as u16 * 3) >> 8) as i16 - 1) as f32
}

pub fn dequantize_tq1_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[52..54]);
    for n in 0..5 {
        for m in 0..32 {
            y[32 * n + m] = trit(b[m], n) * d;
        }
    }
    for n in 0..5 {
        for m in 0..16 {
            y[160 + 16 * n + m] = trit(b[32 + m], n) * d;
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            y[240 + 4 * n + j] = trit(b[48 + j], n) * d;
        }
    }
}

pub fn quantize_tq2_0(x: &[f32], out: &mut [u8]) {
    let (d, id) = scale(x);
    out[64..66].copy_from_slice(&to_f16(d));
    let t = trits(x, id);
    for h in 0..2 {
        for m in 0..32 {
            let mut q = 0u8;
            for n in 0..4 {
                q = q.wrapping_add((t[128 * h + m + 32 * n] & 3) << (2 * n));
            }
            out[32 * h + m] = q;
        }
    }
}

pub fn dequantize_tq2_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[64..66]);
    for h in 0..2 {
        for n in 0..4 {
            for m in 0..32 {
                let q = ((b[32 * h + m] >> (2 * n)) & 3) as i8;
                y[128 * h + 32 * n + m] = (q - 1) as f32 * d;
            }
        }
    }
}

pub fn quantize_q1_0(x: &[f32], out: &mut [u8]) {
    let sum_abs = x[..128].iter().fold(0f32, |a, &v| a + v.abs());
    out[..2].copy_from_slice(&to_f16(sum_abs / 128.0));
    for (j, byte) in out[2..18].iter_mut().enumerate() {
        *byte = (0..8).fold(0u8, |b, k| b | ((x[8 * j + k] >= 0.0) as u8) << k);
    }
}

pub fn dequantize_q1_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for (j, v) in y[..128].iter_mut().enumerate() {
        *v = if (b[2 + j / 8] >> (j % 8)) & 1 != 0 { d } else { -d };
    }
}

pub fn quantize_q2_0(x: &[f32], out: &mut [u8]) {
    let d = x[..64].iter().fold(0f32, |m, &v| if v.abs() > m { v.abs() } else { m });
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    out[2..18].fill(0);
    for (j, &v) in x[..64].iter().enumerate() {
        // `(int)roundf(w·id) + 1`, clamped to 0..3 (an infinite product converts to INT_MIN);
        // branch-free where |w·id| < 1.5, which holds for every finite value over its amax.
        let a = v * id;
        let q = if a.abs() < 1.5 {
            1 + (a >= 0.5) as u8 - (a <= -0.5) as u8
        } else {
            cvtt(roundf(a)).wrapping_add(1).clamp(0, 3) as u8
        };
        out[2 + j / 4] |= q << (2 * (j % 4));
    }
}

pub fn dequantize_q2_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for (j, v) in y[..64].iter_mut().enumerate() {
        *v = (((b[2 + j / 4] >> (2 * (j % 4))) & 3) as i32 - 1) as f32 * d;
    }
}
