//! What the block dots read from a block besides its codes: scales stored as f16 and Q4_K's
//! packed six-bit scales and mins.

/// A Q4_K block's eight 6-bit scales and eight 6-bit mins, unpacked from its 12 `scales` bytes
/// (ggml's `get_scale_min_k4` for all sub-blocks at once): bytes 0..8 scales, 8..16 mins.
#[inline]
pub fn scales_mins_k4(q: &[u8]) -> [u8; 16] {
    const K1: u32 = 0x3f3f3f3f;
    const K2: u32 = 0x0f0f0f0f;
    const K3: u32 = 0x03030303;
    let word = |i: usize| u32::from_le_bytes([q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]]);
    let (u0, u1, u2) = (word(0), word(1), word(2));
    let out = [u0 & K1, (u2 & K2) | (((u0 >> 6) & K3) << 4), u1 & K1, ((u2 >> 4) & K2) | (((u1 >> 6) & K3) << 4)];
    let mut b = [0u8; 16];
    for (i, w) in out.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// An f16 scale at `b`, widened.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn f16(b: &[u8]) -> f32 {
    use std::arch::x86_64::*;
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([b[0], b[1]]) as i32)))
}
