//! Dot products of f32 activations with rows of ggml blocks as a quantized GGUF stores them,
//! accumulated in f32 (activations are never quantized: the engine measures what the weights
//! lost). Fused forms for the common types (AVX-512, else AVX2) widen the integer codes in
//! registers and scale once per block or sub-block; the others dequantize 1024 values at a time
//! into a buffer on the stack. The plain form dequantizes the whole row; a test holds the fast
//! forms to it.

use crate::kernels::{dot_f32, dot_plain, Float};

/// Values per group of [`BlockInput`]'s sums: the sub-block of the types with a min term.
const GROUP: usize = 32;

/// An activation row prepared for dots with many rows of blocks: the row and its sums over
/// groups of 32. A Q4_K or Q4_1 value is `d·q − m`, so a dot is `d·Σq·x − m·Σx` per sub-block;
/// `Σx` is the same for every weight row, so it is summed once per input, not once per row.
pub struct BlockInput<'a> {
    pub x: &'a [f32],
    sums: Vec<f32>,
}

impl<'a> BlockInput<'a> {
    pub fn new(x: &'a [f32]) -> BlockInput<'a> {
        let sums = x.chunks(GROUP).map(|g| g.iter().sum()).collect();
        BlockInput { x, sums }
    }
    /// The row alone, for float weights (no block dots, so no sums).
    pub fn unsummed(x: &'a [f32]) -> BlockInput<'a> {
        BlockInput { x, sums: Vec::new() }
    }
}

/// `Σ w[i]·x[i]` for a row of ggml blocks: the fused form where this CPU and type have one, else
/// blocks dequantized 1024 values at a time into a buffer on the stack (it stays in L1), each
/// buffer through [`crate::kernels::dot`], the partial sums added in order.
pub fn dot_quant(ty: quantize::GgmlType, w: &[u8], input: &BlockInput) -> f32 {
    let x = input.x;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: each form runs only where the CPU has the features it is compiled for.
        if let Some(s) = unsafe { x86_blocks::dot(ty, w, x, &input.sums) } {
            return s;
        }
    }
    const PIECE: usize = 1024;
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let per = PIECE / bs;
    let mut buf = [0f32; PIECE];
    let mut s = 0f32;
    for (wb, xb) in w.chunks(per * ts).zip(x.chunks(per * bs)) {
        let piece = &mut buf[..xb.len()];
        quantize::codec::dequantize_into(ty, wb, piece).expect("whole blocks of a type the engine loaded");
        s += dot_f32(piece, xb);
    }
    s
}

/// [`dot_quant`] of consecutive rows (`row_bytes` apart in `w`) into `out`: the form is chosen
/// once for all of them, not once per row (a 768-wide row is three Q4_K blocks, so per-row
/// dispatch is a visible share of a GEMV).
pub fn dot_quant_rows(ty: quantize::GgmlType, w: &[u8], row_bytes: usize, input: &BlockInput, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: each form runs only where the CPU has the features it is compiled for.
        if unsafe { x86_blocks::dot_rows(ty, w, row_bytes, input.x, &input.sums, out) } {
            return;
        }
    }
    for (o, r) in out.iter_mut().zip(w.chunks_exact(row_bytes)) {
        *o = dot_quant(ty, r, input);
    }
}

/// The plain form of [`dot_quant`]: the whole row dequantized, then [`dot_plain`].
pub fn dot_quant_plain(ty: quantize::GgmlType, w: &[u8], x: &[f32]) -> f32 {
    let v = quantize::codec::dequantize(ty, w).expect("whole blocks");
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    dot_plain(Float::F32, &bytes, x)
}

/// Which instruction set the block dot of `ty` uses on this CPU.
pub fn isa(ty: quantize::GgmlType) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        return x86_blocks::isa(ty);
    }
    #[allow(unreachable_code)]
    {
        let _ = ty;
        "portable"
    }
}

/// A Q4_K block's eight 6-bit scales and eight 6-bit mins, unpacked from its 12 `scales` bytes
/// (ggml's `get_scale_min_k4` for all sub-blocks at once): bytes 0..8 scales, 8..16 mins.
#[inline]
fn scales_mins_k4(q: &[u8]) -> [u8; 16] {
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

#[cfg(target_arch = "x86_64")]
mod x86_blocks {
    use super::scales_mins_k4;
    use quantize::GgmlType;
    use std::arch::x86_64::*;

    /// 2 AVX-512F (with AVX2+FMA+F16C), 1 AVX2+FMA+F16C, 0 neither.
    pub fn level() -> u8 {
        use std::sync::OnceLock;
        static LEVEL: OnceLock<u8> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let has = match (crate::kernels::x86_usable_f16(), is_x86_feature_detected!("avx512f")) {
                (true, true) => 2,
                (true, false) => 1,
                _ => 0,
            };
            has.min(crate::kernels::max_isa())
        })
    }

    /// The fused forms.
    #[derive(Clone, Copy, PartialEq)]
    enum Form {
        Avx512,
        Avx2,
        /// Dequantized pieces through the float dot.
        Pieces,
    }

    /// Which form [`dot`] takes for `ty`. Q8_0's AVX2 form is ahead of a 16-lane one
    /// (benches/dots.rs: 21 against 14 Gweights/s on an AVX-512 EPYC): widening a block's 32 bytes
    /// is its whole cost.
    fn form(ty: GgmlType) -> Form {
        let fused = matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4K | GgmlType::Q6K);
        match level() {
            2 if fused && ty != GgmlType::Q8_0 => Form::Avx512,
            1 | 2 if fused => Form::Avx2,
            _ => Form::Pieces,
        }
    }

    pub fn isa(ty: GgmlType) -> &'static str {
        match (form(ty), level()) {
            (Form::Avx512, _) => "avx512f",
            (Form::Avx2, _) => "avx2+fma+f16c",
            (Form::Pieces, 0) => "portable",
            (Form::Pieces, _) => "avx2+fma (dequantized pieces)",
        }
    }

    /// The fused dots of consecutive rows; false (nothing written) for types without one.
    ///
    /// # Safety
    /// As [`dot`].
    pub unsafe fn dot_rows(ty: GgmlType, w: &[u8], row_bytes: usize, x: &[f32], sums: &[f32], out: &mut [f32]) -> bool {
        let rows = w.chunks_exact(row_bytes).take(out.len());
        match form(ty) {
            Form::Avx512 => avx512::rows(ty, rows, x, sums, out),
            Form::Avx2 => avx2::rows(ty, rows, x, sums, out),
            Form::Pieces => return false,
        }
        true
    }

    /// The fused dot of the best form this CPU has; `None` for types without one.
    ///
    /// # Safety
    /// None beyond the slices' lengths: `w` whole blocks, `x` as many values, `sums` its groups.
    pub unsafe fn dot(ty: GgmlType, w: &[u8], x: &[f32], sums: &[f32]) -> Option<f32> {
        debug_assert_eq!(w.len() / ty.type_size() * ty.block_size(), x.len());
        match form(ty) {
            Form::Avx512 => avx512::dot(ty, w, x, sums),
            Form::Avx2 => avx2::dot(ty, w, x, sums),
            Form::Pieces => None,
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn f16(b: &[u8]) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([b[0], b[1]]) as i32)))
    }

    pub(super) mod avx2 {
        use super::{f16, scales_mins_k4};
        use quantize::GgmlType;
        use std::arch::x86_64::*;

        /// Eight bytes at `p`, as u8 → i32 lanes.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn u8x8(p: *const u8) -> __m256i {
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
        }

        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn hsum(v: __m256) -> f32 {
            let mut a = [0f32; 8];
            _mm256_storeu_ps(a.as_mut_ptr(), v);
            ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn rows<'a>(
            ty: GgmlType,
            rows: impl Iterator<Item = &'a [u8]>,
            x: &[f32],
            sums: &[f32],
            out: &mut [f32],
        ) {
            for (o, r) in out.iter_mut().zip(rows) {
                *o = dot(ty, r, x, sums).expect("a fused type");
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dot(ty: GgmlType, w: &[u8], x: &[f32], sums: &[f32]) -> Option<f32> {
            let (bs, ts) = (ty.block_size(), ty.type_size());
            let xp = x.as_ptr();
            let mut acc = _mm256_setzero_ps();
            match ty {
                GgmlType::Q8_0 => {
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let (q, xb) = (b.as_ptr().add(2), xp.add(i * bs));
                        let mut s = _mm256_setzero_ps();
                        for k in 0..4 {
                            let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                q.add(8 * k) as *const __m128i
                            )));
                            s = _mm256_fmadd_ps(v, _mm256_loadu_ps(xb.add(8 * k)), s);
                        }
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b)), s, acc);
                    }
                }
                GgmlType::Q4_0 => {
                    let (m, eight) = (_mm256_set1_epi32(15), _mm256_set1_ps(8.0));
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let (q, xb) = (b.as_ptr().add(2), xp.add(i * bs));
                        let mut s = _mm256_setzero_ps();
                        for k in 0..2 {
                            let raw = u8x8(q.add(8 * k));
                            let lo = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(raw, m)), eight);
                            let hi = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(raw, 4)), eight);
                            s = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xb.add(8 * k)), s);
                            s = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xb.add(16 + 8 * k)), s);
                        }
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b)), s, acc);
                    }
                }
                GgmlType::Q4K => {
                    let m = _mm256_set1_epi32(15);
                    let mut mins = 0f32;
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let (d, dmin, sm) = (f16(&b[0..2]), f16(&b[2..4]), scales_mins_k4(&b[4..16]));
                        let (xb, sb) = (xp.add(i * bs), &sums[8 * i..8 * i + 8]);
                        mins += dmin * (0..8).map(|j| sm[8 + j] as f32 * sb[j]).sum::<f32>();
                        for c in 0..4 {
                            let q = b.as_ptr().add(16 + 32 * c);
                            let (mut qa, mut qb) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                            for k in 0..4 {
                                let raw = u8x8(q.add(8 * k));
                                let (x1, x2) = (
                                    _mm256_loadu_ps(xb.add(64 * c + 8 * k)),
                                    _mm256_loadu_ps(xb.add(64 * c + 32 + 8 * k)),
                                );
                                qa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(raw, m)), x1, qa);
                                qb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(raw, 4)), x2, qb);
                            }
                            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sm[2 * c] as f32), qa, acc);
                            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sm[2 * c + 1] as f32), qb, acc);
                        }
                    }
                    return Some(hsum(acc) - mins);
                }
                GgmlType::Q6K => {
                    let (m4, m2, off) = (_mm256_set1_epi32(15), _mm256_set1_epi32(3), _mm256_set1_epi32(32));
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let d = f16(&b[208..210]);
                        let xb = xp.add(i * bs);
                        for h in 0..2 {
                            let (ql, qh, sc) =
                                (b.as_ptr().add(64 * h), b.as_ptr().add(128 + 32 * h), &b[192 + 8 * h..]);
                            for l in (0..32).step_by(8) {
                                let is = l / 16;
                                let (a, c, hb) = (u8x8(ql.add(l)), u8x8(ql.add(l + 32)), u8x8(qh.add(l)));
                                let hi = |shift: i32| -> __m256i {
                                    let v = match shift {
                                        0 => hb,
                                        2 => _mm256_srli_epi32(hb, 2),
                                        4 => _mm256_srli_epi32(hb, 4),
                                        _ => _mm256_srli_epi32(hb, 6),
                                    };
                                    _mm256_slli_epi32(_mm256_and_si256(v, m2), 4)
                                };
                                let qs = [
                                    _mm256_or_si256(_mm256_and_si256(a, m4), hi(0)),
                                    _mm256_or_si256(_mm256_and_si256(c, m4), hi(2)),
                                    _mm256_or_si256(_mm256_srli_epi32(a, 4), hi(4)),
                                    _mm256_or_si256(_mm256_srli_epi32(c, 4), hi(6)),
                                ];
                                for (k, q) in qs.iter().enumerate() {
                                    let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(*q, off));
                                    let s = _mm256_mul_ps(v, _mm256_loadu_ps(xb.add(128 * h + l + 32 * k)));
                                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is + 2 * k] as i8 as f32), s, acc);
                                }
                            }
                        }
                    }
                }
                _ => return None,
            }
            Some(hsum(acc))
        }
    }

    /// The same sums in 16 lanes (Q4_0, Q4_K, Q6_K). Each block's (or sub-block's) partial sums
    /// go to one of two accumulators, so consecutive blocks do not wait on each other's additions.
    pub(super) mod avx512 {
        use super::{f16, scales_mins_k4};
        use quantize::GgmlType;
        use std::arch::x86_64::*;

        /// Sixteen bytes at `p`.
        #[inline]
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        unsafe fn bytes16(p: *const u8) -> __m128i {
            _mm_loadu_si128(p as *const __m128i)
        }

        #[inline]
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        unsafe fn i8_ps(v: __m128i) -> __m512 {
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
        }

        /// Σ d·(Σq·x) over blocks of a type with one f16 scale first: `block(codes, x)` gives a
        /// block's Σq·x in 16 lanes. Blocks go in pairs, each of a pair to its own accumulator (a
        /// constant index, so both stay in registers).
        #[inline]
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        unsafe fn pairs(
            w: &[u8],
            ts: usize,
            bs: usize,
            xp: *const f32,
            acc: &mut [__m512; 2],
            block: impl Fn(*const u8, *const f32) -> __m512,
        ) {
            let scaled = |b: &[u8], xb: *const f32, a: __m512| {
                _mm512_fmadd_ps(_mm512_set1_ps(f16(b)), block(b.as_ptr().add(2), xb), a)
            };
            let mut it = w.chunks_exact(2 * ts);
            for (i, p) in it.by_ref().enumerate() {
                let xb = xp.add(2 * i * bs);
                acc[0] = scaled(&p[..ts], xb, acc[0]);
                acc[1] = scaled(&p[ts..], xb.add(bs), acc[1]);
            }
            let last = it.remainder();
            if !last.is_empty() {
                acc[0] = scaled(last, xp.add(w.len() / ts / 2 * 2 * bs), acc[0]);
            }
        }

        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        pub unsafe fn rows<'a>(
            ty: GgmlType,
            rows: impl Iterator<Item = &'a [u8]>,
            x: &[f32],
            sums: &[f32],
            out: &mut [f32],
        ) {
            for (o, r) in out.iter_mut().zip(rows) {
                *o = dot(ty, r, x, sums).expect("a fused type");
            }
        }

        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        pub unsafe fn dot(ty: GgmlType, w: &[u8], x: &[f32], sums: &[f32]) -> Option<f32> {
            let (bs, ts) = (ty.block_size(), ty.type_size());
            let xp = x.as_ptr();
            let mut acc = [_mm512_setzero_ps(); 2];
            let mut mins = _mm256_setzero_ps();
            match ty {
                GgmlType::Q4_0 => {
                    let (m, eight) = (_mm_set1_epi8(15), _mm_set1_epi8(8));
                    pairs(w, ts, bs, xp, &mut acc, |q, xb| {
                        let raw = bytes16(q);
                        let lo = _mm_sub_epi8(_mm_and_si128(raw, m), eight);
                        let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), m), eight);
                        let s = _mm512_mul_ps(i8_ps(lo), _mm512_loadu_ps(xb));
                        _mm512_fmadd_ps(i8_ps(hi), _mm512_loadu_ps(xb.add(16)), s)
                    });
                }
                GgmlType::Q4K => {
                    let m = _mm_set1_epi8(15);
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let (d, dmin) = (f16(&b[0..2]), f16(&b[2..4]));
                        let sm = scales_mins_k4(&b[4..16]);
                        // Lanes 0..8: d·scale of each sub-block; 8..16: dmin·min.
                        let dd = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d), _mm512_set1_ps(dmin));
                        let scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(sm.as_ptr()))), dd);
                        let mut f = [0f32; 16];
                        _mm512_storeu_ps(f.as_mut_ptr(), scaled);
                        let sb = _mm256_loadu_ps(sums.as_ptr().add(8 * i));
                        mins = _mm256_fmadd_ps(
                            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(scaled))),
                            sb,
                            mins,
                        );
                        let xb = xp.add(i * bs);
                        let q = b.as_ptr().add(16);
                        for c in 0..4 {
                            let (r0, r1) = (bytes16(q.add(32 * c)), bytes16(q.add(32 * c + 16)));
                            let lo = |r: __m128i| i8_ps(_mm_and_si128(r, m));
                            let hi = |r: __m128i| i8_ps(_mm_and_si128(_mm_srli_epi16(r, 4), m));
                            let x = |o: usize| _mm512_loadu_ps(xb.add(64 * c + o));
                            let sa = _mm512_fmadd_ps(lo(r1), x(16), _mm512_mul_ps(lo(r0), x(0)));
                            let sb = _mm512_fmadd_ps(hi(r1), x(48), _mm512_mul_ps(hi(r0), x(32)));
                            acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(f[2 * c]), sa, acc[0]);
                            acc[1] = _mm512_fmadd_ps(_mm512_set1_ps(f[2 * c + 1]), sb, acc[1]);
                        }
                    }
                }
                GgmlType::Q6K => {
                    let (m4, m30, off) = (_mm256_set1_epi8(15), _mm256_set1_epi8(0x30), _mm256_set1_epi8(32));
                    let load = |p: *const u8| _mm256_loadu_si256(p as *const __m256i);
                    for (i, b) in w.chunks_exact(ts).enumerate() {
                        let d = _mm512_set1_ps(f16(&b[208..210]));
                        let mut f = [0f32; 16];
                        _mm512_storeu_ps(f.as_mut_ptr(), _mm512_mul_ps(i8_ps(bytes16(b.as_ptr().add(192))), d));
                        let xb = xp.add(i * bs);
                        for h in 0..2 {
                            let (ql, qh) = (b.as_ptr().add(64 * h), b.as_ptr().add(128 + 32 * h));
                            let (a, c, hb) = (load(ql), load(ql.add(32)), load(qh));
                            // Six-bit codes less 32, as i8, 32 at a time: the low four bits from
                            // `ql`, the top two from `qh` (bits 0-1, 2-3, 4-5, 6-7 for the four
                            // quarters of 32 values).
                            let q = |low: __m256i, high: __m256i| {
                                _mm256_sub_epi8(_mm256_or_si256(low, _mm256_and_si256(high, m30)), off)
                            };
                            let qs = [
                                q(_mm256_and_si256(a, m4), _mm256_slli_epi16(hb, 4)),
                                q(_mm256_and_si256(c, m4), _mm256_slli_epi16(hb, 2)),
                                q(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), hb),
                                q(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_srli_epi16(hb, 2)),
                            ];
                            for (k, v) in qs.into_iter().enumerate() {
                                // Each half of a quarter (16 values) has a scale of its own.
                                let halves = [_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)];
                                for (is, half) in halves.into_iter().enumerate() {
                                    let s =
                                        _mm512_mul_ps(i8_ps(half), _mm512_loadu_ps(xb.add(128 * h + 32 * k + 16 * is)));
                                    let a = &mut acc[k & 1];
                                    *a = _mm512_fmadd_ps(_mm512_set1_ps(f[8 * h + is + 2 * k]), s, *a);
                                }
                            }
                        }
                    }
                }
                _ => return None,
            }
            let mut lanes = [0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), _mm512_add_ps(acc[0], acc[1]));
            let mut m = [0f32; 8];
            _mm256_storeu_ps(m.as_mut_ptr(), mins);
            Some(crate::kernels::reduce16(&lanes) - m.iter().sum::<f32>())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantize::GgmlType;

    /// Every block type and every form this CPU has (AVX-512, AVX2, the dequantizing pieces)
    /// against the plain dot (whole row dequantized), on rows of 3 and 4 super-blocks.
    #[test]
    fn quantized_dots_agree_with_the_plain_ones() {
        for n in [768usize, 1024] {
            let w: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2).collect();
            let mut x: Vec<f32> = (0..n).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
            x[5] = 300.0; // one outlier, as activations have
            let input = BlockInput::new(&x);
            for ty in [
                GgmlType::Q8_0,
                GgmlType::Q4_0,
                GgmlType::Q4_1,
                GgmlType::Q5_0,
                GgmlType::Q5_1,
                GgmlType::Q4K,
                GgmlType::Q5K,
                GgmlType::Q6K,
                GgmlType::IQ4NL,
                GgmlType::IQ3S,
            ] {
                let q = quantize::codec::quantize(ty, &w).unwrap();
                let plain = dot_quant_plain(ty, &q, &x);
                let scale: f32 =
                    quantize::codec::dequantize(ty, &q).unwrap().iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
                let mut forms = vec![("best", Some(dot_quant(ty, &q, &input)))];
                #[cfg(target_arch = "x86_64")]
                {
                    let level = x86_blocks::level();
                    // SAFETY: each form only where the CPU has its features.
                    if level >= 1 {
                        forms.push(("avx2", unsafe { x86_blocks::avx2::dot(ty, &q, &x, &input.sums) }));
                    }
                    if level >= 2 {
                        forms.push(("avx512", unsafe { x86_blocks::avx512::dot(ty, &q, &x, &input.sums) }));
                    }
                }
                for (form, fast) in forms {
                    let Some(fast) = fast else { continue };
                    assert!((fast - plain).abs() / scale < 1e-6, "{ty} {form} n={n}: {fast} vs {plain}");
                }
            }
        }
    }
}
