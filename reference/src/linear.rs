//! `y = x·Wᵀ` for a weight stored as torch stores it, `[out, in]`. One token is a GEMV split over
//! output rows; T tokens are a GEMM (matrixmultiply), split over output columns across threads.

use ndarray::parallel::prelude::*;
use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, Axis};
use rayon::prelude::*;

pub struct Linear {
    /// `[out, in]`, row-major.
    pub w: Array2<f32>,
    /// The checkpoint tensor it came from, for activation statistics ([`crate::imatrix`]).
    pub name: Option<std::sync::Arc<str>>,
}

impl Linear {
    pub fn new(w: Array2<f32>) -> Linear {
        // Only a transposed (LoRA) view needs its copy.
        let w = if w.is_standard_layout() { w } else { w.as_standard_layout().into_owned() };
        Linear { w, name: None }
    }
    pub fn named(w: Array2<f32>, name: &str) -> Linear {
        Linear { name: Some(name.into()), ..Linear::new(w) }
    }
    pub fn out_dim(&self) -> usize {
        self.w.nrows()
    }
    pub fn in_dim(&self) -> usize {
        self.w.ncols()
    }

    /// `x` [T, in] → [T, out].
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        crate::imatrix::observe(self, x);
        let mut out = Array2::zeros((x.nrows(), self.out_dim()));
        if x.nrows() == 1 {
            self.gemv(x.row(0).as_slice().expect("contiguous row"), out.as_slice_mut().expect("contiguous"));
        } else {
            self.gemm(x, &mut out);
        }
        out
    }

    fn gemv(&self, x: &[f32], out: &mut [f32]) {
        const ROWS: usize = 32;
        let w = self.w.as_slice().expect("standard layout");
        let k = self.in_dim();
        let rows = |(c, o): (usize, &mut [f32])| {
            for (r, o) in o.iter_mut().enumerate() {
                let row = c * ROWS + r;
                *o = dot(&w[row * k..(row + 1) * k], x);
            }
        };
        // Below ~256 KiB of weights, handing work to other threads costs more than it saves.
        if w.len() < 1 << 16 {
            out.chunks_mut(ROWS).enumerate().for_each(rows);
        } else {
            out.par_chunks_mut(ROWS).enumerate().for_each(rows);
        }
    }

    fn gemm(&self, x: ArrayView2<f32>, out: &mut Array2<f32>) {
        let threads = rayon::current_num_threads().max(1);
        let chunk = self.out_dim().div_ceil(threads * 2).next_multiple_of(16).max(16);
        self.w
            .axis_chunks_iter(Axis(0), chunk)
            .into_par_iter()
            .zip(out.axis_chunks_iter_mut(Axis(1), chunk).into_par_iter())
            .for_each(|(w, mut o)| general_mat_mul(1.0, &x, &w.t(), 0.0, &mut o));
    }
}

/// Several products at once: for one token each, all GEMVs share a single parallel pass over
/// row blocks (one wake-up of the thread pool instead of one per matrix); otherwise one by one.
pub fn forward_many(items: &[(&Linear, ArrayView2<f32>)]) -> Vec<Array2<f32>> {
    if items.iter().any(|(_, x)| x.nrows() != 1) {
        return items.iter().map(|(l, x)| l.forward(*x)).collect();
    }
    const ROWS: usize = 64;
    items.iter().for_each(|(l, x)| crate::imatrix::observe(l, *x));
    let mut outs: Vec<Array2<f32>> = items.iter().map(|(l, _)| Array2::zeros((1, l.out_dim()))).collect();
    let inputs: Vec<&[f32]> = items.iter().map(|(_, x)| x.as_slice().expect("contiguous row")).collect();
    let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        for (c, chunk) in out.as_slice_mut().expect("contiguous").chunks_mut(ROWS).enumerate() {
            tasks.push((i, c * ROWS, chunk));
        }
    }
    tasks.into_par_iter().for_each(|(i, start, out)| {
        let lin = items[i].0;
        let w = lin.w.as_slice().expect("standard layout");
        let k = lin.in_dim();
        for (r, o) in out.iter_mut().enumerate() {
            let row = start + r;
            *o = dot(&w[row * k..(row + 1) * k], inputs[i]);
        }
    });
    outs
}

/// Dot product with 16 independent partial sums, so the compiler can vectorise it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemv_and_gemm_agree_with_a_plain_product() {
        let (n, k, t) = (37, 53, 5);
        let w = Array2::from_shape_fn((n, k), |(i, j)| ((i * 31 + j * 7) % 13) as f32 / 13.0 - 0.5);
        let x = Array2::from_shape_fn((t, k), |(i, j)| ((i * 17 + j * 3) % 11) as f32 / 11.0 - 0.5);
        let lin = Linear::new(w.clone());
        let all = lin.forward(x.view());
        for ti in 0..t {
            let one = lin.forward(x.slice(ndarray::s![ti..ti + 1, ..]));
            for o in 0..n {
                let plain: f64 = (0..k).map(|j| w[[o, j]] as f64 * x[[ti, j]] as f64).sum();
                assert!((all[[ti, o]] as f64 - plain).abs() < 1e-5);
                assert!((one[[0, o]] as f64 - plain).abs() < 1e-5);
            }
        }
    }
}
