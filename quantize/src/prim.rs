//! The primitives ggml's reference quantizers are made of, with their exact rounding.

use half::f16;

/// ggml's `nearest_int`: round half to even (valid for |f| ≤ 4194303, which ggml relies on).
#[inline]
pub fn nearest_int(f: f32) -> i32 {
    f.round_ties_even() as i32
}

/// `ggml_compute_fp32_to_fp16`: IEEE round to nearest even.
#[inline]
pub fn to_f16(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

#[inline]
pub fn from_f16(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// The f32 value an fp16 store rounds `x` to.
#[inline]
pub fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// `ggml_compute_fp32_to_bf16`: NaN kept quiet, otherwise round to nearest even.
#[inline]
pub fn to_bf16(x: f32) -> [u8; 2] {
    let u = x.to_bits();
    let h = if (u & 0x7fff_ffff) > 0x7f80_0000 {
        (u >> 16) | 0x40
    } else {
        (u.wrapping_add(0x7fff + ((u >> 16) & 1))) >> 16
    };
    (h as u16).to_le_bytes()
}

#[inline]
pub fn from_bf16(b: &[u8]) -> f32 {
    f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
}

/// The value with the largest magnitude, the first one on ties (ggml's `amax < fabsf(v)` scan).
#[inline]
pub fn signed_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}
