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
        if let Some(s) = unsafe { x86_blocks::dot(ty, w, input) } {
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

/// [`dot_quant`] of the consecutive rows of `w` (each as long as the input) into `out`: the form
/// is chosen once for all of them, not once per row (a 768-wide row is three Q4_K blocks, so
/// per-row dispatch is a visible share of a GEMV).
pub fn dot_quant_rows(ty: quantize::GgmlType, w: &[u8], input: &BlockInput, out: &mut [f32]) {
    let row_bytes = input.x.len() / ty.block_size() * ty.type_size();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: each form runs only where the CPU has the features it is compiled for.
        if unsafe { x86_blocks::dot_rows(ty, w, row_bytes, input, out) } {
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

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod blocks;

#[cfg(target_arch = "x86_64")]
mod x86_blocks {
    use super::{avx2, avx512, BlockInput};
    use quantize::GgmlType;

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
        match crate::kernels::level() {
            2 if fused && ty != GgmlType::Q8_0 => Form::Avx512,
            1 | 2 if fused => Form::Avx2,
            _ => Form::Pieces,
        }
    }

    pub fn isa(ty: GgmlType) -> &'static str {
        match (form(ty), crate::kernels::level()) {
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
    pub unsafe fn dot_rows(ty: GgmlType, w: &[u8], row_bytes: usize, input: &BlockInput, out: &mut [f32]) -> bool {
        let (x, sums) = (input.x, &input.sums[..]);
        match form(ty) {
            Form::Avx512 => avx512::rows(ty, w, row_bytes, input, out),
            Form::Avx2 => avx2::rows(ty, w.chunks_exact(row_bytes).take(out.len()), x, sums, out),
            Form::Pieces => return false,
        }
        true
    }

    /// The fused dot of the best form this CPU has; `None` for types without one.
    ///
    /// # Safety
    /// None beyond the slices' lengths: `w` whole blocks, `x` as many values, `sums` its groups.
    pub unsafe fn dot(ty: GgmlType, w: &[u8], input: &BlockInput) -> Option<f32> {
        let (x, sums) = (input.x, &input.sums[..]);
        debug_assert_eq!(w.len() / ty.type_size() * ty.block_size(), x.len());
        match form(ty) {
            Form::Avx512 => avx512::dot(ty, w, input),
            Form::Avx2 => avx2::dot(ty, w, x, sums),
            Form::Pieces => None,
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
                    let level = crate::kernels::level();
                    // SAFETY: each form only where the CPU has its features.
                    if level >= 1 {
                        forms.push(("avx2", unsafe { avx2::dot(ty, &q, &x, &input.sums) }));
                    }
                    if level >= 2 {
                        forms.push(("avx512", unsafe { avx512::dot(ty, &q, &input) }));
                    }
                }
                for (form, fast) in forms {
                    let Some(fast) = fast else { continue };
                    assert!((fast - plain).abs() / scale < 1e-6, "{ty} {form} n={n}: {fast} vs {plain}");
                }
            }
        }
    }

    /// Several rows at once (the K-quants' AVX-512 form takes them four at a time): nine distinct
    /// rows, each equal to its own plain dot.
    #[test]
    fn row_blocks_agree_with_the_plain_dots() {
        let n = 768;
        let mut x: Vec<f32> = (0..n).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
        x[700] = -250.0;
        let input = BlockInput::new(&x);
        for ty in [GgmlType::Q4K, GgmlType::Q6K, GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q5K] {
            let rows: Vec<Vec<u8>> = (0..9)
                .map(|r| {
                    let w: Vec<f32> =
                        (0..n).map(|i| (((i + 37 * r) * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2).collect();
                    quantize::codec::quantize(ty, &w).unwrap()
                })
                .collect();
            let mut out = vec![f32::NAN; rows.len()];
            dot_quant_rows(ty, &rows.concat(), &input, &mut out);
            for (r, q) in rows.iter().enumerate() {
                let plain = dot_quant_plain(ty, q, &x);
                let scale: f32 =
                    quantize::codec::dequantize(ty, q).unwrap().iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
                assert!((out[r] - plain).abs() / scale < 1e-6, "{ty} row {r}: {} vs {plain}", out[r]);
            }
        }
    }
}
