//! The 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (ggml `quantize_row_*_ref`).
//! Each quantizer handles one block of 32 values into its bytes; dequantizers do the reverse.

use crate::prim::{from_f16, signed_max, to_f16};

pub const QK: usize = 32;

pub fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    let amax = x.iter().fold(0f32, |a, &v| if a > v.abs() { a } else { v.abs() });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    for j in 0..QK {
        out[2 + j] = (crate::prim::roundf(x[j] * id) as i8) as u8;
    }
}

pub fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for j in 0..QK {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

pub fn quantize_q4_0(x: &[f32], out: &mut [u8]) {
    let (_, max) = signed_max(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    for j in 0..QK / 2 {
        // x*id + 8.5, two roundings (ggml's x86-64 build never fuses), then truncation.
        // ggml truncates through (int8_t); the value is in [0, 16.5], so i32 gives the same.
        let q0 = ((x[j] * id + 8.5) as i32).min(15) as u8;
        let q1 = ((x[j + 16] * id + 8.5) as i32).min(15) as u8;
        out[2 + j] = q0 | (q1 << 4);
    }
}

pub fn dequantize_q4_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for j in 0..QK / 2 {
        y[j] = ((b[2 + j] & 15) as i32 - 8) as f32 * d;
        y[j + 16] = ((b[2 + j] >> 4) as i32 - 8) as f32 * d;
    }
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

pub fn quantize_q4_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    out[2..4].copy_from_slice(&to_f16(min));
    for j in 0..QK / 2 {
        let q0 = ((((x[j] - min) * id) + 0.5) as i8).min(15) as u8;
        let q1 = ((((x[j + 16] - min) * id) + 0.5) as i8).min(15) as u8;
        out[4 + j] = q0 | (q1 << 4);
    }
}

pub fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (from_f16(&b[..2]), from_f16(&b[2..4]));
    for j in 0..QK / 2 {
        y[j] = (b[4 + j] & 15) as f32 * d + m;
        y[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
    }
}

pub fn quantize_q5_0(x: &[f32], out: &mut [u8]) {
    let (_, max) = signed_max(x);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = ((x[j] * id + 16.5) as i32).min(31) as u8;
        let q1 = ((x[j + 16] * id + 16.5) as i32).min(31) as u8;
        out[6 + j] = (q0 & 15) | ((q1 & 15) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + 16);
    }
    out[2..6].copy_from_slice(&qh.to_le_bytes());
}

pub fn dequantize_q5_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..QK / 2 {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((b[6 + j] & 15) as u32 | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((b[6 + j] >> 4) as u32 | h1) as i32 - 16) as f32 * d;
    }
}

pub fn quantize_q5_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    out[2..4].copy_from_slice(&to_f16(min));
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = ((((x[j] - min) * id) + 0.5) as u8) as u32;
        let q1 = ((((x[j + 16] - min) * id) + 0.5) as u8) as u32;
        out[8 + j] = ((q0 & 15) | ((q1 & 15) << 4)) as u8;
        qh |= ((q0 & 0x10) >> 4) << j;
        qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    out[4..8].copy_from_slice(&qh.to_le_bytes());
}

pub fn dequantize_q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (from_f16(&b[..2]), from_f16(&b[2..4]));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..QK / 2 {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((b[8 + j] & 15) as u32 | h0) as f32 * d + m;
        y[j + 16] = ((b[8 + j] >> 4) as u32 | h1) as f32 * d + m;
    }
}

/// Importance weights of a row as ggml's `quantize_row_q*_impl` form them for the 32-value types:
/// `qw · sqrt(σ² + x²)` with σ² the row's mean square.
fn row_weights(x: &[f32], qw: &[f32]) -> Vec<f32> {
    let sigma2 = x.iter().fold(0f32, |a, &v| a + v * v) / x.len() as f32;
    x.iter().zip(qw).map(|(&v, &w)| w * (sigma2 + v * v).sqrt()).collect()
}

/// Q4_0 / Q5_0 of a whole row with importance weights (`make_qx_quants`, weighted).
pub fn quantize_q4_0_q5_0_row_weighted(x: &[f32], qw: &[f32], five: bool, out: &mut [u8]) {
    let w = row_weights(x, qw);
    let (nmax, ts) = if five { (16, 22) } else { (8, 18) };
    let mut l = [0i8; QK];
    for (b, ob) in out.chunks_exact_mut(ts).enumerate() {
        let xb = &x[QK * b..QK * (b + 1)];
        let d = crate::kquants::make_qx_quants(nmax, xb, &mut l, Some(&w[QK * b..QK * (b + 1)]));
        ob[..2].copy_from_slice(&to_f16(d));
        if five {
            let mut qh = 0u32;
            for j in 0..QK / 2 {
                let (x0, x1) = (l[j] as u8, l[j + 16] as u8);
                ob[6 + j] = (x0 & 15) | ((x1 & 15) << 4);
                qh |= (((x0 & 0x10) >> 4) as u32) << j;
                qh |= (((x1 & 0x10) >> 4) as u32) << (j + 16);
            }
            ob[2..6].copy_from_slice(&qh.to_le_bytes());
        } else {
            for j in 0..QK / 2 {
                ob[2 + j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
            }
        }
    }
}

/// Q4_1 / Q5_1 of a whole row with importance weights (`make_qkx3_quants`).
pub fn quantize_q4_1_q5_1_row_weighted(x: &[f32], qw: &[f32], five: bool, out: &mut [u8]) {
    let w = row_weights(x, qw);
    let (nmax, ts) = if five { (31, 24) } else { (15, 20) };
    let mut l = [0u8; QK];
    for (b, ob) in out.chunks_exact_mut(ts).enumerate() {
        let xb = &x[QK * b..QK * (b + 1)];
        let (d, the_min) = crate::kquants::make_qkx3_quants(nmax, xb, &w[QK * b..QK * (b + 1)], &mut l, -0.9, 0.05, 36);
        ob[..2].copy_from_slice(&to_f16(d));
        ob[2..4].copy_from_slice(&to_f16(-the_min));
        if five {
            let mut qh = 0u32;
            for j in 0..QK / 2 {
                let (x0, x1) = (l[j], l[j + 16]);
                ob[8 + j] = (x0 & 15) | ((x1 & 15) << 4);
                qh |= (((x0 & 0x10) >> 4) as u32) << j;
                qh |= (((x1 & 0x10) >> 4) as u32) << (j + 16);
            }
            ob[4..8].copy_from_slice(&qh.to_le_bytes());
        } else {
            for j in 0..QK / 2 {
                ob[4 + j] = l[j] | (l[j + 16] << 4);
            }
        }
    }
}
