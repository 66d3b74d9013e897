//! `C[T, n] = X[T, K] · W[n, K]ᵀ` with the weight rows read where they are stored (f32, bf16 or
//! f16) and widened in registers: no tile is widened or packed, which is what dominates short
//! sequences (a LAMBADA document is ~80 tokens). A register block is 4 tokens × 4 rows, vectors
//! along k; each pair's 16 lanes hold the elements `i % 16` and are reduced as
//! [`crate::kernels::dot`] reduces them, with its scalar tail, so every element equals the GEMV's
//! dot bit for bit (a test holds it). Rows and tokens past whole blocks take that dot directly.

use crate::kernels::{self, Float};

/// Rows per parallel task, tokens per pass over a task's rows (both stay in L2).
pub const TASK_ROWS: usize = 64;
const TOKENS: usize = 64;

/// Whether this CPU has the register-block kernel.
pub fn available() -> bool {
    // AVX-512, and the kernel must reduce exactly as `kernels::dot` does: its AVX2+FMA(+F16C)
    // form, which level 2 includes.
    kernels::level() == 2
}

/// Rows `r0..r0 + n` of `w` (rows of `k` elements of `ty`, `row_bytes` apart) against all `t`
/// tokens of `x` (rows of `k`), into `c[ti * ldc + j]` for `j < n`.
///
/// # Safety
/// [`available`] must be true; `c` must be valid for writes at those elements and no one else may
/// touch them during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    ty: Float,
    w: &[u8],
    row_bytes: usize,
    r0: usize,
    n: usize,
    x: &[f32],
    t: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
) {
    assert!(w.len() >= (r0 + n) * row_bytes && x.len() >= t * k && row_bytes >= k * ty.size());
    let row = |j: usize| &w[(r0 + j) * row_bytes..(r0 + j) * row_bytes + k * ty.size()];
    for tb in (0..t).step_by(TOKENS) {
        let tn = TOKENS.min(t - tb);
        for jb in (0..n).step_by(4) {
            let nr = 4.min(n - jb);
            for ts in (tb..tb + tn).step_by(4) {
                let mr = 4.min(tb + tn - ts);
                if mr == 4 && nr == 4 {
                    #[cfg(target_arch = "x86_64")]
                    {
                        let rows = [row(jb).as_ptr(), row(jb + 1).as_ptr(), row(jb + 2).as_ptr(), row(jb + 3).as_ptr()];
                        let mut sums = [[0f32; 4]; 4];
                        x86::block(ty, k, x.as_ptr().add(ts * k), k, rows, &mut sums);
                        for (ti, s) in sums.iter().enumerate() {
                            for (j, &v) in s.iter().enumerate() {
                                *c.add((ts + ti) * ldc + jb + j) = v;
                            }
                        }
                        continue;
                    }
                }
                for ti in ts..ts + mr {
                    for j in jb..jb + nr {
                        *c.add(ti * ldc + j) = kernels::dot(ty, row(j), &x[ti * k..(ti + 1) * k]);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::kernels::Float;
    use std::arch::x86_64::*;

    /// Sixteen stored elements at `p`, widened.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(ty: Float, p: *const u8) -> __m512 {
        match ty {
            Float::F32 => _mm512_loadu_ps(p as *const f32),
            Float::BF16 => {
                let h = _mm256_loadu_si256(p as *const __m256i);
                _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
            }
            Float::F16 => _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)),
        }
    }

    /// `sums[t][j] = dot(rows[j], x[t])` for a 4 × 4 block.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn block(
        ty: Float,
        k: usize,
        x: *const f32,
        ldx: usize,
        rows: [*const u8; 4],
        sums: &mut [[f32; 4]; 4],
    ) {
        let es = ty.size();
        let mut acc = [[_mm512_setzero_ps(); 4]; 4];
        let blocks = k / 16;
        for b in 0..blocks {
            let wv = [
                load16(ty, rows[0].add(16 * b * es)),
                load16(ty, rows[1].add(16 * b * es)),
                load16(ty, rows[2].add(16 * b * es)),
                load16(ty, rows[3].add(16 * b * es)),
            ];
            for (t, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(x.add(t * ldx + 16 * b));
                for (j, w) in wv.iter().enumerate() {
                    a[j] = _mm512_fmadd_ps(*w, xv, a[j]);
                }
            }
        }
        for t in 0..4 {
            for j in 0..4 {
                let mut lanes = [0f32; 16];
                _mm512_storeu_ps(lanes.as_mut_ptr(), acc[t][j]);
                let mut s = crate::kernels::reduce16(&lanes);
                let wr = std::slice::from_raw_parts(rows[j], k * es);
                for i in blocks * 16..k {
                    s += crate::kernels::load(ty, wr, i) * *x.add(t * ldx + i);
                }
                sums[t][j] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// Every element equals the GEMV's dot bit for bit, for each storage type, on ragged token,
    /// row and K counts.
    #[test]
    fn row_gemm_equals_the_dot_of_each_pair() {
        if !available() {
            eprintln!("skipped: no AVX-512 register-block kernel on this CPU");
            return;
        }
        for ty in [Float::F32, Float::BF16, Float::F16] {
            for (t, k, n) in [(4, 16, 4), (9, 37, 11), (70, 768, 66), (5, 8, 3)] {
                let wv: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.4).collect();
                let w: Vec<u8> = match ty {
                    Float::F32 => wv.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    Float::BF16 => wv.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect(),
                    Float::F16 => wv.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
                };
                let x: Vec<f32> = (0..t * k).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
                let ldc = n + 2;
                let mut c = vec![f32::NAN; t * ldc];
                let rb = k * ty.size();
                // Two tasks' worth of rows, as the engine splits them.
                let half = n / 2;
                unsafe {
                    run(ty, &w, rb, 0, half, &x, t, k, c.as_mut_ptr(), ldc);
                    run(ty, &w, rb, half, n - half, &x, t, k, c.as_mut_ptr().add(half), ldc);
                }
                for ti in 0..t {
                    for j in 0..n {
                        let want = kernels::dot(ty, &w[j * rb..(j + 1) * rb], &x[ti * k..(ti + 1) * k]);
                        assert_eq!(c[ti * ldc + j].to_bits(), want.to_bits(), "{ty:?} {t}x{k}x{n} at ({ti}, {j})");
                    }
                }
            }
        }
    }
}
