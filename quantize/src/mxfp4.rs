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

/// `floorf` of a log2 (finite ones are below 2³¹ in size), without the library call baseline
/// x86-64 makes.
fn floor(r: f32) -> f32 {
    if !r.is_finite() {
        return r;
    }
    let t = r as i32 as f32;
    if t > r {
        t - 1.0
    } else {
        t
    }
}

/// The first code whose value is nearest to `x` (ggml's `best_index_mxfp4`: codes in order, a
/// strictly smaller |k·d − x| wins, so NaN never does). The plain form: x86-64 runs the SSE2 one,
/// which the tests hold to it.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
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

/// [`best_index`] of 32 values.
fn best_indices(x: &[f32; 32], d: f32) -> [u8; 32] {
    #[cfg(target_arch = "x86_64")]
    {
        crate::sse2::mxfp4_codes32(x, &std::array::from_fn(|j| KVALUES[j] as f32 * d))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        x.map(|v| best_index(v, d))
    }
}

pub fn quantize_mxfp4(x: &[f32], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    let amax = crate::sse2::signed_max32(x).0;
    #[cfg(not(target_arch = "x86_64"))]
    let amax = x[..32].iter().fold(0f32, |m, &v| if m < v.abs() { v.abs() } else { m });
    // `(uint8_t)(floorf(log2f(amax)) - 2 + 127)`: x86-64 converts through a 32-bit integer and
    // keeps its low byte, also for the tiny scales that take it below 0. `log2` is the C
    // library's `log2f`, as ggml calls it.
    let e = if amax > 0.0 { cvtt(floor(amax.log2()) - 2.0 + 127.0) as u8 } else { 0 };
    let d = e8m0_half(e);
    out[0] = e;
    let q = best_indices(x[..32].try_into().expect("a block of 32"), d);
    for j in 0..16 {
        out[1 + j] = q[j] | (q[j + 16] << 4);
    }
}

pub fn dequantize_mxfp4(b: &[u8], y: &mut [f32]) {
    let d = e8m0_half(b[0]);
    for j in 0..16 {
        y[j] = KVALUES[(b[1 + j] & 15) as usize] as f32 * d;
        y[j + 16] = KVALUES[(b[1 + j] >> 4) as usize] as f32 * d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_lane_search_equals_the_plain_one() {
        let mut s = 0x9e37_79b9u32;
        for case in 0..5000 {
            let mut x = [0f32; 32];
            for v in x.iter_mut() {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                *v = (s as f32 / u32::MAX as f32 - 0.5) * 30.0;
            }
            // Ties (midpoints between codes), zeros of both signs, NaN and infinities.
            x[case % 32] = [1.0, 5.0, -0.0, 0.0, f32::NAN, f32::INFINITY, 2.5, -7.0][case % 8];
            let d = [1.0f32, 0.5, 2.0, 1e-3][case % 4];
            let want: [u8; 32] = x.map(|v| best_index(v, d));
            assert_eq!(best_indices(&x, d), want, "case {case}");
        }
    }
}
