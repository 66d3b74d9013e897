//! The 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (ggml `quantize_row_*_ref`).
//! Each quantizer handles one block of 32 values into its bytes; dequantizers do the reverse.

use crate::prim::{cvtt, from_f16, roundf, signed_max, to_f16};

pub const QK: usize = 32;

/// Q8_0 of one block: the fast form of [`quantize_q8_0_ref`], which it falls back to when a NaN
/// makes ggml's max scan depend on the order.
#[cfg(target_arch = "x86_64")]
pub fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    let Some(amax) = crate::sse2::abs_max32(x) else { return quantize_q8_0_ref(x, out) };
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    out[2..2 + QK].copy_from_slice(&crate::sse2::round_codes32(x, id));
}

#[cfg(not(target_arch = "x86_64"))]
pub use quantize_q8_0_ref as quantize_q8_0;

/// Q8_0 of one block, the plain loop of `quantize_row_q8_0_ref`.
pub fn quantize_q8_0_ref(x: &[f32], out: &mut [u8]) {
    let amax = x.iter().fold(0f32, |a, &v| if a > v.abs() { a } else { v.abs() });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    for j in 0..QK {
        out[2 + j] = cvtt(roundf(x[j] * id)) as u8;
    }
}

pub fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for j in 0..QK {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// Q4_0 of one block, the plain loop of `quantize_row_q4_0_ref`; [`quantize_q4_0`] is the fast form.
pub fn quantize_q4_0_ref(x: &[f32], out: &mut [u8]) {
    let (_, max) = signed_max(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    for j in 0..QK / 2 {
        // x*id + 8.5, two roundings (ggml's x86-64 build never fuses), then ggml's (int8_t) truncation.
        let q0 = (cvtt(x[j] * id + 8.5) as i8).min(15) as u8;
        let q1 = (cvtt(x[j + 16] * id + 8.5) as i8).min(15) as u8;
        out[2 + j] = q0 | (q1 << 4);
    }
}

/// Q4_0 of one block: the same operations as [`quantize_q4_0_ref`], four values at a time.
#[cfg(target_arch = "x86_64")]
pub fn quantize_q4_0(x: &[f32], out: &mut [u8]) {
    let (_, max) = crate::sse2::signed_max32(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    let q = crate::sse2::offset_codes32(x, id, 8.5, 15);
    out[2..18].copy_from_slice(&crate::sse2::pack_nibbles32(&q));
}

#[cfg(not(target_arch = "x86_64"))]
pub use quantize_q4_0_ref as quantize_q4_0;

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

/// The block's min and the inverse of its scale (max − min)/nmax, both written as f16 (d, then
/// min): the common start of Q4_1 and Q5_1.
fn affine_header(x: &[f32], nmax: f32, out: &mut [u8]) -> (f32, f32) {
    let (min, max) = min_max(x);
    let d = (max - min) / nmax;
    out[..2].copy_from_slice(&to_f16(d));
    out[2..4].copy_from_slice(&to_f16(min));
    (min, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// Q4_1 of one block, the plain loop of `quantize_row_q4_1_ref`; [`quantize_q4_1`] is the fast form.
pub fn quantize_q4_1_ref(x: &[f32], out: &mut [u8]) {
    let (min, id) = affine_header(x, 15.0, out);
    for j in 0..QK / 2 {
        let q0 = (cvtt((x[j] - min) * id + 0.5) as i8).min(15) as u8;
        let q1 = (cvtt((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
        out[4 + j] = q0 | (q1 << 4);
    }
}

/// The values less the block's min: the first operation of Q4_1's and Q5_1's codes.
fn less_min(x: &[f32], min: f32) -> [f32; QK] {
    let mut v = [0f32; QK];
    for (vi, &xi) in v.iter_mut().zip(x) {
        *vi = xi - min;
    }
    v
}

/// Q4_1 of one block: the same operations as [`quantize_q4_1_ref`], four values at a time.
#[cfg(target_arch = "x86_64")]
pub fn quantize_q4_1(x: &[f32], out: &mut [u8]) {
    let (min, id) = affine_header(x, 15.0, out);
    let q = crate::sse2::offset_codes32(&less_min(x, min), id, 0.5, 15);
    out[4..20].copy_from_slice(&crate::sse2::pack_nibbles32(&q));
}

#[cfg(not(target_arch = "x86_64"))]
pub use quantize_q4_1_ref as quantize_q4_1;

pub fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (from_f16(&b[..2]), from_f16(&b[2..4]));
    for j in 0..QK / 2 {
        y[j] = (b[4 + j] & 15) as f32 * d + m;
        y[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
    }
}

/// Q5_0 of one block, the plain loop of `quantize_row_q5_0_ref`; [`quantize_q5_0`] is the fast form.
pub fn quantize_q5_0_ref(x: &[f32], out: &mut [u8]) {
    let (_, max) = signed_max(x);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = (cvtt(x[j] * id + 16.5) as i8).min(31) as u8;
        let q1 = (cvtt(x[j + 16] * id + 16.5) as i8).min(31) as u8;
        out[6 + j] = (q0 & 15) | ((q1 & 15) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + 16);
    }
    out[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// Q5_0 of one block: the same operations as [`quantize_q5_0_ref`], four values at a time.
#[cfg(target_arch = "x86_64")]
pub fn quantize_q5_0(x: &[f32], out: &mut [u8]) {
    let (_, max) = crate::sse2::signed_max32(x);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out[..2].copy_from_slice(&to_f16(d));
    let q = crate::sse2::offset_codes32(x, id, 16.5, 31);
    out[6..22].copy_from_slice(&crate::sse2::pack_low_nibbles32(&q));
    out[2..6].copy_from_slice(&crate::sse2::bit4_mask32(&q).to_le_bytes());
}

#[cfg(not(target_arch = "x86_64"))]
pub use quantize_q5_0_ref as quantize_q5_0;

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

/// Q5_1 of one block: the same operations as [`quantize_q5_1_ref`], four values at a time (ggml
/// keeps the code's low byte without a min: 127 is no bound on a sign-extended byte).
#[cfg(target_arch = "x86_64")]
pub fn quantize_q5_1(x: &[f32], out: &mut [u8]) {
    let (min, id) = affine_header(x, 31.0, out);
    let q = crate::sse2::offset_codes32(&less_min(x, min), id, 0.5, 127);
    out[8..24].copy_from_slice(&crate::sse2::pack_low_nibbles32(&q));
    out[4..8].copy_from_slice(&crate::sse2::bit4_mask32(&q).to_le_bytes());
}

#[cfg(not(target_arch = "x86_64"))]
pub use quantize_q5_1_ref as quantize_q5_1;

/// Q5_1 of one block, the plain loop of `quantize_row_q5_1_ref`; [`quantize_q5_1`] is the fast form.
pub fn quantize_q5_1_ref(x: &[f32], out: &mut [u8]) {
    let (min, id) = affine_header(x, 31.0, out);
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = cvtt((x[j] - min) * id + 0.5) as u8 as u32;
        let q1 = cvtt((x[j + 16] - min) * id + 0.5) as u8 as u32;
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
        let (d, the_min) =
            crate::kquants::make_qkx3_quants(nmax, xb, &w[QK * b..QK * (b + 1)], &mut l, -0.9, 0.05, 36, false);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks that exercise the scan and the truncation: random scales, ties of |max| with both
    /// signs, all zero, subnormal, huge, NaN and infinite values.
    fn blocks() -> Vec<[f32; QK]> {
        let mut s = 0x9e37_79b9u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32 - 0.5
        };
        let mut out = Vec::new();
        for i in 0..20_000 {
            let scale = [1e-3f32, 0.02, 1.0, 300.0, 1e-38, 3e38][i % 6];
            let mut b = [0f32; QK];
            b.iter_mut().for_each(|v| *v = next() * scale);
            match i % 11 {
                1 => b[(i / 11) % QK] = 0.5 * scale,
                2 => {
                    b[3] = -0.5 * scale;
                    b[20] = 0.5 * scale;
                }
                3 => b = [0.0; QK],
                4 => b[(i / 11) % QK] = f32::NAN,
                5 => b[(i / 11) % QK] = f32::INFINITY,
                6 => b[7] = -f32::INFINITY,
                7 => b.iter_mut().for_each(|v| *v = (*v * 64.0).round() / 64.0),
                _ => {}
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn fast_block_quantizers_equal_the_plain_ones() {
        type Block = fn(&[f32], &mut [u8]);
        let pairs: [(&str, Block, Block, usize); 5] = [
            ("q8_0", quantize_q8_0, quantize_q8_0_ref, 34),
            ("q4_0", quantize_q4_0, quantize_q4_0_ref, 18),
            ("q5_0", quantize_q5_0, quantize_q5_0_ref, 22),
            ("q4_1", quantize_q4_1, quantize_q4_1_ref, 20),
            ("q5_1", quantize_q5_1, quantize_q5_1_ref, 24),
        ];
        for (name, fast, plain, ts) in pairs {
            for (i, b) in blocks().iter().enumerate() {
                let (mut f, mut p) = (vec![0u8; ts], vec![0u8; ts]);
                fast(b, &mut f);
                plain(b, &mut p);
                assert_eq!(f, p, "{name} block {i}: {b:?}");
            }
        }
    }
}
