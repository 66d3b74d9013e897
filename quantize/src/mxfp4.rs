//! MXFP4 (OCP microscaling FP4): 32 values as 4-bit E2M1 codes under one E8M0 power-of-two
//! scale (17 bytes: e, qs[16]), as ggml's `quantize_row_mxfp4_ref` writes it. Importance
//! weights are ignored.

use crate::prim::cvtt;

/// ggml's `kvalues_mxfp4`: twice the E2M1 values (the scale is halved to match).
pub const KVALUES: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `GGML_E8M0_TO_FP32_HALF`: 2^(e − 128), built from its bits (e < 2 are subnormal).
pub fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { ((e - 1) as u32) << 23 };
    f32::from_bits(bits)
}

/// The first code whose value is nearest to `x`.
fn best_index(x: f32, d: f32) -> u8 {
    let mut best = (0u8, (KVALUES[0] as f32 * d - x).abs());
    for (i, &k) in KVALUES.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best.1 {
            best = (i as u8, err);
        }
    }
    best.0
}

pub fn quantize_mxfp4(x: &[f32], out: &mut [u8]) {
    let amax = x[..32].iter().fold(0f32, |m, &v| if m < v.abs() { v.abs() } else { m });
    // `(uint8_t)(floorf(log2f(amax)) - 2 + 127)`: x86-64 converts through a 32-bit integer and
    // keeps its low byte, also for the tiny scales that take it below 0. `log2` is the C
    // library's `log2f`, as ggml calls it.
    let e = if amax > 0.0 { cvtt(amax.log2().floor() - 2.0 + 127.0) as u8 } else { 0 };
    let d = e8m0_half(e);
    out[0] = e;
    for j in 0..16 {
        out[1 + j] = best_index(x[j], d) | (best_index(x[j + 16], d) << 4);
    }
}

pub fn dequantize_mxfp4(b: &[u8], y: &mut [f32]) {
    let d = e8m0_half(b[0]);
    for j in 0..16 {
        y[j] = KVALUES[(b[1 + j] & 15) as usize] as f32 * d;
        y[j + 16] = KVALUES[(b[1 + j] >> 4) as usize] as f32 * d;
    }
}
