//! The primitives ggml's reference quantizers are made of, with their exact rounding.

use half::f16;

/// ggml's `nearest_int`: round half to even, by ggml's own trick of adding 1.5·2²³ so that the f32
/// addition does the rounding (valid for |f| ≤ 4194303, which ggml relies on). Plain arithmetic:
/// `round_ties_even` would be a libm call on baseline x86-64, which has no SSE4.1 `roundss`.
#[inline]
pub fn nearest_int(f: f32) -> i32 {
    let v = f + 12582912.0;
    (v.to_bits() & 0x7f_ffff) as i32 - 0x40_0000
}

/// `nearest_int(f[i]).clamp(lo, hi)` for 16 values. When every |f| is below 2²², rounding in
/// float (adding and removing 1.5·2²³) is `nearest_int` exactly, and the values go four at a
/// time; beyond that `nearest_int`'s result wraps, and the clamp must see it: value by value.
#[inline]
pub fn nearest_int_clamped16(f: &[f32; 16], lo: i32, hi: i32) -> [i32; 16] {
    if f.iter().all(|v| v.abs() < 4194304.0) {
        #[cfg(target_arch = "x86_64")]
        return crate::sse2::round_clamp16(f, 1.0, lo as f32, hi as f32).map(|r| r as i32);
    }
    nearest_int_clamped16_plain(f, lo, hi)
}

/// The plain form of [`nearest_int_clamped16`].
pub fn nearest_int_clamped16_plain(f: &[f32; 16], lo: i32, hi: i32) -> [i32; 16] {
    f.map(|v| nearest_int(v).clamp(lo, hi))
}

/// C's float-to-int conversion as x86-64 compiles it (`cvttss2si`): truncation toward zero, and
/// the "integer indefinite" 0x80000000 for NaN and out-of-range values, where Rust's `as`
/// saturates. Reached when a block's scale underflows and `1/d` is infinite.
#[inline]
pub fn cvtt(f: f32) -> i32 {
    if f > -2147483904.0 && f < 2147483648.0 {
        f as i32
    } else {
        i32::MIN
    }
}

/// C's `roundf` (half away from zero), without a libm call: truncate, then step away from zero
/// when the dropped part is at least one half (that difference is exact). From 2²³ up every f32
/// is integral, and NaN and infinities are their own rounding.
#[inline]
pub fn roundf(x: f32) -> f32 {
    if !(x.abs() < 8388608.0) {
        return x;
    }
    let t = x as i32 as f32;
    let d = x - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
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

/// The value with the largest magnitude, the first one on ties (ggml's `amax < fabsf(v)` scan),
/// found in two passes (a vectorisable max of |x|, then the first value reaching it).
#[inline]
pub fn signed_max(x: &[f32]) -> (f32, f32) {
    let amax = x.iter().fold(0f32, |a, &v| if v.abs() > a { v.abs() } else { a });
    if !(amax > 0.0) {
        // All zero (or NaN, where ggml's scan keeps 0 as well).
        return (0.0, 0.0);
    }
    let max = x.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
    (amax, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four-at-a-time rounding equals the plain one, at ties, at the bounds, past 2²² (where
    /// `nearest_int` wraps), and for NaN and infinities.
    #[test]
    fn clamped_rounding_equals_the_plain_form() {
        let mut s = 0x2545_f491u32;
        for case in 0..20_000 {
            let mut f = [0f32; 16];
            for v in f.iter_mut() {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                *v = (s as f32 / u32::MAX as f32 - 0.5) * [1.0f32, 9.0, 70.0, 1e7][case % 4];
            }
            f[case % 16] = [2.5, -3.5, 4.0, -4.5, 0.5, f32::NAN, f32::INFINITY, 5e6][case % 8];
            for (lo, hi) in [(-4, 3), (0, 3), (-32, 31)] {
                assert_eq!(nearest_int_clamped16(&f, lo, hi), nearest_int_clamped16_plain(&f, lo, hi), "{f:?}");
            }
        }
    }

    #[test]
    fn rounding_helpers_match_the_std_definitions() {
        let mut x = 0x1234_5678u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let f = (x as f32 / u32::MAX as f32 - 0.5) * 300.0;
            for v in [f, f.trunc() + 0.5, f.trunc() - 0.5, -f.trunc() - 0.5] {
                assert_eq!(nearest_int(v), v.round_ties_even() as i32, "{v}");
                assert_eq!(roundf(v), v.round(), "{v}");
            }
        }
        assert_eq!(roundf(0.49999997), 0.0);
        assert_eq!(roundf(-2.5), -3.0);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-3.5), -4);
        for v in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 3e9, -3e9, 1e30] {
            assert_eq!(roundf(v).to_bits(), v.round().to_bits(), "{v}");
            assert_eq!(cvtt(v), i32::MIN, "{v}");
        }
        assert_eq!((cvtt(-2147483648.0), cvtt(2147483520.0), cvtt(-7.9)), (i32::MIN, 2147483520, -7));
    }
}
