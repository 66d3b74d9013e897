//! `C[T, n] = X[T, K] · W[n, K]ᵀ` for prefill, on a tile of weight rows widened to f32 one row at
//! a time as they are packed into panels of NR rows stored k-major (`panel[k][j]`), so a register block
//! of MR tokens × NR outputs is one broadcast of `X[t, k]` and NR/lanes FMAs per token and k. K
//! is walked in fixed chunks of [`KC`] (a panel chunk stays in L2), accumulating into C.
//!
//! Every output element is one FMA chain over k in ascending order, whatever the kernel width, so
//! the AVX-512 and AVX2 kernels give the same bits, and neither depends on the thread count.
//! [`gemm_plain`] is the same computation written for reading; a test holds the fast ones to it.

/// K per pass over a panel.
pub const KC: usize = 512;

/// A tile's weight rows: `row(j, buf)` writes row `j` (of `k` values, widened to f32) into `buf`.
pub type Rows<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// Pack `n` rows of `k` into panels of `nr` rows: `out[p][kk][j]` = row `p·nr + j` at `kk`, zero
/// past the last row. Each row is widened into a buffer that stays in L1 and scattered from there
/// (no widened copy of the whole tile).
fn pack(rows: Rows, n: usize, k: usize, nr: usize, out: &mut Vec<f32>) {
    let panels = n.div_ceil(nr);
    // Every element is written below (rows or padding), so old contents need no clearing.
    out.resize(panels * nr * k, 0.0);
    let mut row = vec![0f32; k];
    for p in 0..panels {
        let panel = &mut out[p * nr * k..(p + 1) * nr * k];
        let real = nr.min(n - p * nr);
        for j in 0..real {
            rows(p * nr + j, &mut row);
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * nr + j] = v;
            }
        }
        for kk in 0..k {
            panel[kk * nr + real..(kk + 1) * nr].fill(0.0);
        }
    }
}

/// The plain form: every element an FMA chain over k in order, as the fast kernels compute it.
/// `c` is written at `c[t * ldc + j]`.
pub fn gemm_plain(x: &[f32], t: usize, k: usize, w: &[f32], n: usize, c: &mut [f32], ldc: usize) {
    for ti in 0..t {
        for j in 0..n {
            let mut s = 0f32;
            for kk in 0..k {
                s = x[ti * k + kk].mul_add(w[j * k + kk], s);
            }
            c[ti * ldc + j] = s;
        }
    }
}

/// `c[t * ldc + j] = Σ_k x[t, k] · w[j, k]` for `t < T`, `j < n` (row `j` of `w` as `w(j, buf)`
/// writes it), with the kernel of CPU level `isa` (2 AVX-512, 1 AVX2+FMA: engine callers pass
/// [`crate::kernels::level`], tests each level the CPU has); `None` for a level without one (the
/// caller falls back to a library GEMM), before reading any row. `scratch` holds the packed
/// panels between calls.
///
/// # Safety
/// `c` must be valid for writes at every `t * ldc + j` (`t < T`, `j < n`), and nothing else may
/// touch those elements during the call (other elements between them may be in use elsewhere);
/// the CPU must have the features of level `isa`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    isa: u8,
    x: &[f32],
    t: usize,
    k: usize,
    w: Rows,
    n: usize,
    c: *mut f32,
    ldc: usize,
    scratch: &mut Vec<f32>,
) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(x.len() >= t * k);
        // SAFETY: the caller vouches for the features and for `c`; the slices hold every index
        // the kernels read (asserted above).
        unsafe {
            match isa {
                2 => {
                    pack(w, n, k, 32, scratch);
                    x86::run::<8, 32>(x, t, k, scratch, n, c, ldc, x86::block_avx512);
                }
                1 => {
                    pack(w, n, k, 16, scratch);
                    x86::run::<6, 16>(x, t, k, scratch, n, c, ldc, x86::block_avx2);
                }
                _ => return None,
            }
        }
        Some(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, x, t, k, w, n, c, ldc, scratch);
        None
    }
}

/// Which kernel [`gemm`] uses on this CPU.
pub fn isa() -> &'static str {
    ["portable", "avx2+fma", "avx512f"][crate::kernels::level() as usize]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::KC;
    use std::arch::x86_64::*;

    /// One register block: `c[MR][NR] (+)= a[MR rows, kc] · panel[kc][NR]`. `a` rows are `lda`
    /// apart; `c` rows `ldc` apart; `add`: accumulate onto c (later K chunks).
    pub type Block = unsafe fn(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, add: bool);

    /// One register-block kernel per instruction set: MR tokens × two vectors of outputs.
    macro_rules! register_block {
        ($name:ident, $features:literal, $mr:literal, $lanes:literal, $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident) => {
            #[target_feature(enable = $features)]
            pub unsafe fn $name(
                kc: usize,
                a: *const f32,
                lda: usize,
                b: *const f32,
                c: *mut f32,
                ldc: usize,
                add: bool,
            ) {
                let mut acc = [[$zero(); 2]; $mr];
                if add {
                    for (t, r) in acc.iter_mut().enumerate() {
                        r[0] = $load(c.add(t * ldc));
                        r[1] = $load(c.add(t * ldc + $lanes));
                    }
                }
                for kk in 0..kc {
                    let b0 = $load(b.add(kk * 2 * $lanes));
                    let b1 = $load(b.add(kk * 2 * $lanes + $lanes));
                    for (t, r) in acc.iter_mut().enumerate() {
                        let av = $set1(*a.add(t * lda + kk));
                        r[0] = $fma(av, b0, r[0]);
                        r[1] = $fma(av, b1, r[1]);
                    }
                }
                for (t, r) in acc.iter().enumerate() {
                    $store(c.add(t * ldc), r[0]);
                    $store(c.add(t * ldc + $lanes), r[1]);
                }
            }
        };
    }
    register_block!(
        block_avx512,
        "avx512f",
        8,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps
    );
    register_block!(
        block_avx2,
        "avx2,fma",
        6,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps
    );

    /// All register blocks of the product. Blocks that hang over the token or row edge run on
    /// zero-padded copies and only their valid part is copied out.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn run<const MR: usize, const NR: usize>(
        x: &[f32],
        t: usize,
        k: usize,
        panels: &[f32],
        n: usize,
        c: *mut f32,
        ldc: usize,
        block: Block,
    ) {
        let mut a_pad = vec![0f32; MR * KC];
        let mut c_pad = [0f32; 32 * 8];
        for kb in (0..k).step_by(KC) {
            let kc = KC.min(k - kb);
            let add = kb > 0;
            for t0 in (0..t).step_by(MR) {
                let mr = MR.min(t - t0);
                // A: the tokens' rows in place, or a zero-padded copy of the last few.
                let (a, lda) = if mr == MR {
                    (x.as_ptr().add(t0 * k + kb), k)
                } else {
                    a_pad.fill(0.0);
                    for r in 0..mr {
                        a_pad[r * KC..r * KC + kc].copy_from_slice(&x[(t0 + r) * k + kb..(t0 + r) * k + kb + kc]);
                    }
                    (a_pad.as_ptr(), KC)
                };
                for p in 0..n.div_ceil(NR) {
                    let b = panels.as_ptr().add(p * NR * k + kb * NR);
                    let nr = NR.min(n - p * NR);
                    let c0 = c.add(t0 * ldc + p * NR);
                    if mr == MR && nr == NR {
                        block(kc, a, lda, b, c0, ldc, add);
                    } else {
                        for r in 0..mr {
                            for j in 0..nr {
                                c_pad[r * NR + j] = if add { *c0.add(r * ldc + j) } else { 0.0 };
                            }
                        }
                        block(kc, a, lda, b, c_pad.as_mut_ptr(), NR, add);
                        for r in 0..mr {
                            for j in 0..nr {
                                *c0.add(r * ldc + j) = c_pad[r * NR + j];
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast kernels give the plain form's bits, on ragged token and row counts and K past
    /// one chunk.
    #[test]
    fn fast_gemm_equals_the_plain_one() {
        for (t, k, n) in [(1, 3, 1), (5, 17, 7), (13, 600, 45), (64, 1100, 96), (9, 512, 33)] {
            let x: Vec<f32> = (0..t * k).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0).collect();
            let w: Vec<f32> = (0..n * k).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 0.3).collect();
            let ldc = n + 3;
            let mut want = vec![7f32; t * ldc];
            gemm_plain(&x, t, k, &w, n, &mut want, ldc);
            #[cfg(target_arch = "x86_64")]
            for (isa, usable) in [
                (2u8, is_x86_feature_detected!("avx512f")),
                (1, is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")),
            ] {
                if !usable {
                    eprintln!("kernel {isa}: not on this CPU");
                    continue;
                }
                let mut got = vec![7f32; t * ldc];
                let mut scratch = Vec::new();
                // SAFETY: `got` holds t rows of ldc; the kernel's features are present.
                let rows = |j: usize, buf: &mut [f32]| buf.copy_from_slice(&w[j * k..(j + 1) * k]);
                // Scratch left over from a bigger call: packing must not depend on its contents.
                scratch.resize(4 * (n + 32) * k, f32::NAN);
                unsafe { gemm(isa, &x, t, k, &rows, n, got.as_mut_ptr(), ldc, &mut scratch) }.unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "kernel {isa}: {t}x{k}x{n}");
            }
        }
    }
}
