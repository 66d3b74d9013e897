//! Small f32 building blocks, computed as the official package computes them in `cpu fp32`.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

/// `F.layer_norm` default eps, used for ln0, ln1, ln2 and ln_out in every version.
pub const LN_EPS: f32 = 1e-5;
/// GroupNorm eps of `ln_x` in every v5.x/v6/v7 path of the package.
pub const GN_EPS: f32 = 64e-5;

/// LayerNorm of one row with biased variance; statistics accumulated in f64.
pub fn layer_norm_row(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let rstd = 1.0 / (var + LN_EPS as f64).sqrt();
    for i in 0..x.len() {
        out[i] = (((x[i] as f64 - mean) * rstd) as f32) * w[i] + b[i];
    }
}

/// LayerNorm of every row of `x` [T, C].
pub fn layer_norm(x: ArrayView2<f32>, w: &[f32], b: &[f32]) -> Array2<f32> {
    let mut out = Array2::zeros(x.raw_dim());
    for (row, mut o) in x.outer_iter().zip(out.outer_iter_mut()) {
        layer_norm_row(row.as_slice().expect("rows are contiguous"), w, b, o.as_slice_mut().expect("contiguous"));
    }
    out
}

/// GroupNorm over `groups` contiguous groups of each row, then a per-channel affine, in place.
pub fn group_norm(mut x: ArrayViewMut2<f32>, groups: usize, w: &[f32], b: &[f32], eps: f32) {
    let c = x.ncols();
    let n = c / groups;
    for mut row in x.outer_iter_mut() {
        let row = row.as_slice_mut().expect("rows are contiguous");
        for (g, chunk) in row.chunks_mut(n).enumerate() {
            let mean = chunk.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = chunk.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let rstd = 1.0 / (var + eps as f64).sqrt();
            for (j, v) in chunk.iter_mut().enumerate() {
                let i = g * n + j;
                *v = (((*v as f64 - mean) * rstd) as f32) * w[i] + b[i];
            }
        }
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn relu_sq(x: f32) -> f32 {
    let r = x.max(0.0);
    r * r
}

pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// The token-shift input of every row: the previous row, and `carry` (the state) for row 0.
/// Returns the rows and leaves the last row of `x` in `carry`.
pub fn shift(x: ArrayView2<f32>, carry: &mut [f32]) -> Array2<f32> {
    let mut prev = Array2::zeros(x.raw_dim());
    prev.row_mut(0).as_slice_mut().expect("contiguous").copy_from_slice(carry);
    if x.nrows() > 1 {
        prev.slice_mut(ndarray::s![1.., ..]).assign(&x.slice(ndarray::s![..-1, ..]));
    }
    carry.copy_from_slice(x.row(x.nrows() - 1).as_slice().expect("contiguous"));
    prev
}

/// `a + (b − a)·m` row by row, with a per-channel `m`: the v6/v7 "maa" token-shift mix written
/// as `xx + (prev − xx)·m`.
pub fn lerp(a: ArrayView2<f32>, b: ArrayView2<f32>, m: &[f32]) -> Array2<f32> {
    let mut out = a.to_owned();
    for (mut o, pb) in out.outer_iter_mut().zip(b.outer_iter()) {
        for ((o, &p), &m) in o.iter_mut().zip(pb.iter()).zip(m) {
            *o += (p - *o) * m;
        }
    }
    out
}

/// `a·m + b·(1 − m)` row by row: the v4/v5 `time_mix` form (weight of the current token).
pub fn mix(a: ArrayView2<f32>, b: ArrayView2<f32>, m: &[f32]) -> Array2<f32> {
    let mut out = a.to_owned();
    for (mut o, pb) in out.outer_iter_mut().zip(b.outer_iter()) {
        for ((o, &p), &m) in o.iter_mut().zip(pb.iter()).zip(m) {
            *o = *o * m + p * (1.0 - m);
        }
    }
    out
}

/// Apply `f` to every element.
pub fn map(mut x: Array2<f32>, f: impl Fn(f32) -> f32) -> Array2<f32> {
    x.mapv_inplace(f);
    x
}

/// Add a per-channel vector to every row.
pub fn add_row(mut x: Array2<f32>, v: &[f32]) -> Array2<f32> {
    for mut row in x.axis_iter_mut(Axis(0)) {
        for (o, &b) in row.iter_mut().zip(v) {
            *o += b;
        }
    }
    x
}
