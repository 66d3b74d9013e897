//! SSE2 forms of the hot loops of the 32-value types (and the 16-value sub-blocks of Q3_K). SSE2 is part of baseline x86-64, so no
//! run-time detection is needed. Each function computes exactly what its plain counterpart in
//! `legacy`/`prim` computes, in the same float operations and order (a multiply, then a separate
//! add, then truncation), which the tests in `legacy` hold them to.

use std::arch::x86_64::*;

/// `signed_max` of one 32-value block: the largest |x| and the first value that has it.
#[inline]
pub fn signed_max32(x: &[f32]) -> (f32, f32) {
    signed_max_vectors::<8>(x)
}

/// `signed_max` of 16 values (the sub-blocks of Q3_K and Q6_K).
#[inline]
pub fn signed_max16(x: &[f32]) -> (f32, f32) {
    signed_max_vectors::<4>(x)
}

/// `signed_max` of the first 4·V values.
#[inline]
fn signed_max_vectors<const V: usize>(x: &[f32]) -> (f32, f32) {
    assert!(x.len() >= 4 * V);
    // SAFETY: SSE2 is always present on x86-64; the loads stay within the 4·V values checked above.
    unsafe {
        let sign = _mm_set1_ps(-0.0);
        let mut acc = _mm_setzero_ps();
        let p = x.as_ptr();
        let mut v = [_mm_setzero_ps(); V];
        for (k, vk) in v.iter_mut().enumerate() {
            *vk = _mm_andnot_ps(sign, _mm_loadu_ps(p.add(4 * k)));
            // maxps returns its second operand when either is NaN: a NaN |x| never wins, as in
            // ggml's `amax < fabsf(v)` scan.
            acc = _mm_max_ps(*vk, acc);
        }
        let hi = _mm_movehl_ps(acc, acc);
        let m2 = _mm_max_ps(acc, hi);
        let m1 = _mm_max_ss(m2, _mm_shuffle_ps::<0b01>(m2, m2));
        let amax = _mm_cvtss_f32(m1);
        if !(amax > 0.0) {
            return (0.0, 0.0);
        }
        let target = _mm_set1_ps(amax);
        for (k, vk) in v.iter().enumerate() {
            let mask = _mm_movemask_ps(_mm_cmpeq_ps(*vk, target));
            if mask != 0 {
                return (amax, *x.get_unchecked(4 * k + mask.trailing_zeros() as usize));
            }
        }
        (amax, 0.0)
    }
}

/// `min(maxq, (int8)(x*id + offset))` for 32 values, as bytes (values in [0, maxq]; NaN gives 0,
/// the low byte of cvttss2si's 0x80000000, as ggml's truncation gives).
#[inline]
pub fn offset_codes32(x: &[f32], id: f32, offset: f32, maxq: i16) -> [u8; 32] {
    assert!(x.len() >= 32);
    let mut out = [0u8; 32];
    // SAFETY: SSE2 is always present on x86-64; loads within the 32 checked values, stores within `out`.
    unsafe {
        let (vid, voff, vmax) = (_mm_set1_ps(id), _mm_set1_ps(offset), _mm_set1_epi16(maxq));
        let p = x.as_ptr();
        for h in 0..2 {
            let mut w = [_mm_setzero_si128(); 4];
            for (k, wk) in w.iter_mut().enumerate() {
                let v = _mm_loadu_ps(p.add(16 * h + 4 * k));
                *wk = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(v, vid), voff));
            }
            // Keep the low byte of each 32-bit integer (the int8 truncation), then the min.
            let lo8 = _mm_set1_epi32(0xff);
            let a = _mm_packs_epi32(_mm_and_si128(w[0], lo8), _mm_and_si128(w[1], lo8));
            let b = _mm_packs_epi32(_mm_and_si128(w[2], lo8), _mm_and_si128(w[3], lo8));
            // Sign-extend the bytes (int8_t), then min with maxq, then back to bytes.
            let a = _mm_srai_epi16(_mm_slli_epi16(a, 8), 8);
            let b = _mm_srai_epi16(_mm_slli_epi16(b, 8), 8);
            let q = _mm_packs_epi16(_mm_min_epi16(a, vmax), _mm_min_epi16(b, vmax));
            _mm_storeu_si128(out.as_mut_ptr().add(16 * h) as *mut __m128i, q);
        }
    }
    out
}

/// For each of 32 code bytes, whether bit 4 is set, as one 32-bit mask (Q5_0/Q5_1's `qh`).
#[inline]
pub fn bit4_mask32(q: &[u8; 32]) -> u32 {
    // SAFETY: SSE2 is always present on x86-64; both loads are within the 32-byte array.
    unsafe {
        let lo = _mm_loadu_si128(q.as_ptr() as *const __m128i);
        let hi = _mm_loadu_si128(q.as_ptr().add(16) as *const __m128i);
        let m0 = _mm_movemask_epi8(_mm_slli_epi16(lo, 3)) as u32;
        let m1 = _mm_movemask_epi8(_mm_slli_epi16(hi, 3)) as u32;
        m0 | (m1 << 16)
    }
}

/// Q8_0's `MAX(amax, fabsf(v))` scan of 32 values, or None when a NaN is among them (the scan's
/// result then depends on the order, which only the plain loop keeps).
#[inline]
pub fn abs_max32(x: &[f32]) -> Option<f32> {
    assert!(x.len() >= 32);
    // SAFETY: SSE2 is always present on x86-64; the loads stay within the 32 values checked above.
    unsafe {
        let sign = _mm_set1_ps(-0.0);
        let p = x.as_ptr();
        let (mut acc, mut nan) = (_mm_setzero_ps(), _mm_setzero_ps());
        for k in 0..8 {
            let v = _mm_loadu_ps(p.add(4 * k));
            nan = _mm_or_ps(nan, _mm_cmpunord_ps(v, v));
            acc = _mm_max_ps(acc, _mm_andnot_ps(sign, v));
        }
        if _mm_movemask_ps(nan) != 0 {
            return None;
        }
        let m2 = _mm_max_ps(acc, _mm_movehl_ps(acc, acc));
        Some(_mm_cvtss_f32(_mm_max_ss(m2, _mm_shuffle_ps::<0b01>(m2, m2))))
    }
}

/// `(int8)roundf(x*id)` for 32 values as bytes: `prim::cvtt(prim::roundf(v))`'s low byte per value.
#[inline]
pub fn round_codes32(x: &[f32], id: f32) -> [u8; 32] {
    assert!(x.len() >= 32);
    let mut out = [0u8; 32];
    // SAFETY: SSE2 is always present on x86-64; loads within the 32 checked values, stores within `out`.
    unsafe {
        let (vid, half, mhalf) = (_mm_set1_ps(id), _mm_set1_ps(0.5), _mm_set1_ps(-0.5));
        let (indefinite, lo8) = (_mm_set1_epi32(i32::MIN), _mm_set1_epi32(0xff));
        let p = x.as_ptr();
        let mut w = [_mm_setzero_si128(); 8];
        for (k, wk) in w.iter_mut().enumerate() {
            let v = _mm_mul_ps(_mm_loadu_ps(p.add(4 * k)), vid);
            let t = _mm_cvttps_epi32(v);
            // roundf: step away from zero when the dropped part is at least one half; lanes that
            // truncated to the indefinite value (NaN, infinite, |v| >= 2^31) stay there.
            let d = _mm_sub_ps(v, _mm_cvtepi32_ps(t));
            let up = _mm_castps_si128(_mm_cmpge_ps(d, half));
            let down = _mm_castps_si128(_mm_cmple_ps(d, mhalf));
            let keep = _mm_cmpeq_epi32(t, indefinite);
            let adj = _mm_andnot_si128(keep, _mm_sub_epi32(down, up));
            *wk = _mm_and_si128(_mm_add_epi32(t, adj), lo8);
        }
        for h in 0..2 {
            let a = _mm_packs_epi32(w[4 * h], w[4 * h + 1]);
            let b = _mm_packs_epi32(w[4 * h + 2], w[4 * h + 3]);
            _mm_storeu_si128(out.as_mut_ptr().add(16 * h) as *mut __m128i, _mm_packus_epi16(a, b));
        }
    }
    out
}

/// `q[j] | q[j + 16] << 4` for j in 0..16 (codes below 16).
#[inline]
pub fn pack_nibbles32(q: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: SSE2 is always present on x86-64; loads within `q`, the store within `out`.
    unsafe {
        let lo = _mm_loadu_si128(q.as_ptr() as *const __m128i);
        let hi = _mm_loadu_si128(q.as_ptr().add(16) as *const __m128i);
        // Codes are below 16, so a 16-bit shift moves no bits across bytes.
        _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
    }
    out
}

/// `(q[j] & 15) | (q[j + 16] & 15) << 4` for j in 0..16 (Q5_0's low nibbles).
#[inline]
pub fn pack_low_nibbles32(q: &[u8; 32]) -> [u8; 16] {
    // SAFETY: SSE2 is always present on x86-64; loads within `q`, the store within `out`.
    unsafe {
        let m = _mm_set1_epi8(15);
        let lo = _mm_and_si128(_mm_loadu_si128(q.as_ptr() as *const __m128i), m);
        let hi = _mm_and_si128(_mm_loadu_si128(q.as_ptr().add(16) as *const __m128i), m);
        let mut out = [0u8; 16];
        _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
        out
    }
}

/// `clamp(round_even(s·x), lo, hi)` for 16 values, in float: the rounding adds and removes
/// 1.5·2²³ (`nearest_int` exactly, for |s·x| < 2²²). For finite products only: maxps/minps
/// would turn a NaN into a bound, where `nearest_int` gives 0.
#[inline]
pub fn round_clamp16(x: &[f32], s: f32, lo: f32, hi: f32) -> [f32; 16] {
    assert!(x.len() >= 16);
    let mut out = [0f32; 16];
    // SAFETY: SSE2 is always present on x86-64; loads within the 16 values checked above,
    // stores within `out`.
    unsafe {
        let (vs, magic, vlo, vhi) = (_mm_set1_ps(s), _mm_set1_ps(12582912.0), _mm_set1_ps(lo), _mm_set1_ps(hi));
        for k in 0..4 {
            let p = _mm_mul_ps(vs, _mm_loadu_ps(x.as_ptr().add(4 * k)));
            let r = _mm_sub_ps(_mm_add_ps(p, magic), magic);
            _mm_storeu_ps(out.as_mut_ptr().add(4 * k), _mm_min_ps(_mm_max_ps(r, vlo), vhi));
        }
    }
    out
}

/// MXFP4's `best_index_mxfp4` for 32 values, four at a time. Its 16 levels are ±(0, 1, 2, 3, 4,
/// 6, 8, 12)·d, and |(−k)·d − x| = |k·d − |x|| exactly (negation is exact), so the search runs
/// over the eight magnitudes against |x| (a strictly smaller error wins, so the first of equals,
/// the smaller magnitude, as in ggml's order) and the sign picks code j or 8 + j (0 stays 0:
/// ggml's code 0 comes before the other zero, code 8). NaN matches no level: code 0.
#[inline]
pub fn mxfp4_codes32(x: &[f32; 32], magnitudes: &[f32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: SSE2 is always present on x86-64; loads within `x`, stores within `lanes`.
    unsafe {
        let sign = _mm_set1_ps(-0.0);
        let (mut ax, mut neg) = ([_mm_setzero_ps(); 8], [_mm_setzero_si128(); 8]);
        let (mut best, mut idx) = ([_mm_setzero_ps(); 8], [_mm_setzero_si128(); 8]);
        let m0 = _mm_set1_ps(magnitudes[0]);
        for k in 0..8 {
            let v = _mm_loadu_ps(x.as_ptr().add(4 * k));
            ax[k] = _mm_andnot_ps(sign, v);
            neg[k] = _mm_castps_si128(_mm_cmplt_ps(v, _mm_setzero_ps()));
            best[k] = _mm_andnot_ps(sign, _mm_sub_ps(m0, ax[k]));
        }
        for (j, &m) in magnitudes.iter().enumerate().skip(1) {
            let (mv, jv) = (_mm_set1_ps(m), _mm_set1_epi32(j as i32));
            for k in 0..8 {
                let err = _mm_andnot_ps(sign, _mm_sub_ps(mv, ax[k]));
                let better = _mm_cmplt_ps(err, best[k]);
                best[k] = _mm_or_ps(_mm_and_ps(better, err), _mm_andnot_ps(better, best[k]));
                let b = _mm_castps_si128(better);
                idx[k] = _mm_or_si128(_mm_and_si128(b, jv), _mm_andnot_si128(b, idx[k]));
            }
        }
        let mut lanes = [0i32; 32];
        for k in 0..8 {
            // + 8 where the value is negative and the code is not 0.
            let nonzero = _mm_cmpgt_epi32(idx[k], _mm_setzero_si128());
            let eight = _mm_and_si128(_mm_and_si128(neg[k], nonzero), _mm_set1_epi32(8));
            _mm_storeu_si128(lanes.as_mut_ptr().add(4 * k) as *mut __m128i, _mm_add_epi32(idx[k], eight));
        }
        for (o, l) in out.iter_mut().zip(lanes) {
            *o = l as u8;
        }
    }
    out
}
