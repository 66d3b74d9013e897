//! `y = x·Wᵀ` for a weight stored as torch stores it, `[out, in]`. Big matrices are read in place
//! from the model's bytes (f32, bf16, f16 or ggml blocks as stored), never widened into a second
//! copy: one token is a GEMV of stored rows ([`crate::kernels`], [`crate::qkernels`]); a short
//! sequence of float rows is [`crate::rowgemm`]; longer ones are [`crate::gemm`] over tiles of
//! rows widened and packed as they are read (matrixmultiply where the CPU has no kernel). Tiles
//! have a fixed size, so results never depend on the thread count.

use crate::imatrix::Obs;
use crate::kernels::{self, Float};
use crate::qkernels::BlockInput;
use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Where a matrix's values live.
enum Weight {
    /// `[out, in]` rows of `ty`: the model's own bytes in place, or f32 made at load (slices of
    /// stacked tensors, LoRA factors of types [`Weight::Columns`] does not read).
    Float { tensor: convert::Tensor, ty: Float },
    /// A quantized GGUF's own blocks, `[out, in]`; values are the dequantized ones × `scale`.
    Quant { tensor: convert::Tensor, ty: quantize::GgmlType, row_bytes: usize, scale: f32 },
    /// `[in, out]` as stored, used as `x·W` (LoRA factors): outputs are columns, summed by adding
    /// scaled rows ([`kernels::column_dots`]).
    Columns { tensor: convert::Tensor, ty: Float },
}

pub struct Linear {
    w: Weight,
    rows: usize,
    cols: usize,
    /// The checkpoint tensor it came from, for activation statistics ([`crate::imatrix`]).
    pub name: Option<std::sync::Arc<str>>,
}

/// A pointer that tasks writing disjoint parts of one buffer share.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each task writes only its own elements (see the callers).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Below this many tokens, float rows go through [`crate::rowgemm`] (measured on the 191M shape:
/// ahead below ~100 tokens, behind the packed GEMM from ~160).
const ROW_FORM_TOKENS: usize = 128;

/// Up to this many tokens go through [`Linear::gemv_few`] instead of the GEMM.
const FEW_TOKENS: usize = 8;

/// Output rows per GEMM task (128 rows of a 4096-wide matrix widen into 2 MiB). A fixed size: an
/// output element's sum never depends on the thread count.
const TILE_ROWS: usize = 128;

impl Linear {
    /// A matrix made at load.
    pub fn new(w: Array2<f32>) -> Linear {
        let (rows, cols) = w.dim();
        let bytes = crate::state::f32_bytes(&w.as_standard_layout().iter().copied().collect::<Vec<f32>>());
        let tensor = convert::Tensor {
            name: String::new(),
            dtype: convert::DType::F32,
            shape: vec![rows, cols],
            data: convert::tensor::Bytes::Owned(bytes.into()),
        };
        Linear { w: Weight::Float { tensor, ty: Float::F32 }, rows, cols, name: None }
    }
    pub fn named(w: Array2<f32>, name: &str) -> Linear {
        Linear { name: Some(name.into()), ..Linear::new(w) }
    }
    /// A matrix read in place from a stored `[rows, cols]` tensor of f32, bf16, f16 or ggml blocks
    /// the engine can dequantize; `None` for other element types.
    pub fn stored(tensor: &convert::Tensor, rows: usize, cols: usize, name: &str) -> Option<Linear> {
        let w = match tensor.dtype {
            d @ convert::DType::Quant { ty, .. } => {
                quantize::codec::is_supported(ty).then_some(())?;
                let row_bytes = ty.row_bytes(cols)?;
                (tensor.bytes().len() == rows * row_bytes).then(|| Weight::Quant {
                    tensor: tensor.clone(),
                    ty,
                    row_bytes,
                    scale: d.value_scale(),
                })?
            }
            d => {
                let ty = Float::from_dtype(d)?;
                (tensor.bytes().len() == rows * cols * ty.size())
                    .then(|| Weight::Float { tensor: tensor.clone(), ty })?
            }
        };
        Some(Linear { w, rows, cols, name: Some(name.into()) })
    }
    /// A matrix used as `x·W`, read in place from a stored `[in, out]` tensor of f32, bf16 or f16
    /// (a LoRA factor as BlinkDL stores it); `None` for other element types.
    pub fn stored_columns(tensor: &convert::Tensor, name: &str) -> Option<Linear> {
        let ty = Float::from_dtype(tensor.dtype)?;
        let [cols, rows] = tensor.squeezed_shape()[..] else { return None };
        (tensor.bytes().len() == rows * cols * ty.size()).then(|| Linear {
            w: Weight::Columns { tensor: tensor.clone(), ty },
            rows,
            cols,
            name: Some(name.into()),
        })
    }
    pub fn out_dim(&self) -> usize {
        self.rows
    }
    pub fn in_dim(&self) -> usize {
        self.cols
    }

    /// An input row as [`Linear::dot_rows`] takes it (with its group sums for block rows).
    fn input<'a>(&self, x: &'a [f32]) -> BlockInput<'a> {
        match &self.w {
            Weight::Float { .. } | Weight::Columns { .. } => BlockInput::unsummed(x),
            Weight::Quant { .. } => BlockInput::new(x),
        }
    }

    /// The stored bytes of rows `start..start + n` (of a matrix stored `[out, in]`).
    fn stored_rows(&self, start: usize, n: usize) -> &[u8] {
        let (tensor, row_bytes) = match &self.w {
            Weight::Float { tensor, ty } => (tensor, self.cols * ty.size()),
            Weight::Quant { tensor, row_bytes, .. } => (tensor, *row_bytes),
            Weight::Columns { .. } => unreachable!("a matrix stored [in, out] has no stored rows"),
        };
        &tensor.bytes()[start * row_bytes..(start + n) * row_bytes]
    }

    /// Rows `start..start + out.len()` · x, into `out`.
    fn dot_rows(&self, start: usize, x: &BlockInput, out: &mut [f32]) {
        match &self.w {
            Weight::Float { ty, .. } => kernels::dot_rows(*ty, self.stored_rows(start, out.len()), x.x, out),
            Weight::Quant { ty, scale, .. } => {
                crate::qkernels::dot_quant_rows(*ty, self.stored_rows(start, out.len()), x, out);
                out.iter_mut().for_each(|v| *v *= scale);
            }
            Weight::Columns { tensor, ty } => kernels::column_dots(*ty, tensor.bytes(), self.rows, start, x.x, out),
        }
    }

    /// Rows `start..start + out.len()/cols` widened into `out`.
    fn widen_rows(&self, start: usize, out: &mut [f32]) {
        let n = out.len() / self.cols;
        match &self.w {
            Weight::Float { ty, .. } => kernels::widen(*ty, self.stored_rows(start, n), out),
            Weight::Quant { ty, scale, .. } => {
                let w = self.stored_rows(start, n);
                quantize::codec::dequantize_into(*ty, w, out).expect("whole blocks of a type the engine loaded");
                if *scale != 1.0 {
                    out.iter_mut().for_each(|v| *v *= scale);
                }
            }
            // Columns gathered (the matrices stored this way are LoRA factors, small).
            Weight::Columns { tensor, ty } => {
                for (j, row) in out.chunks_exact_mut(self.cols).enumerate() {
                    for (i, v) in row.iter_mut().enumerate() {
                        *v = kernels::load(*ty, tensor.bytes(), i * self.rows + start + j);
                    }
                }
            }
        }
    }

    /// Show `x` to the pass's observer when this matrix has a checkpoint name.
    fn observed(&self, x: ArrayView2<f32>, obs: Obs) {
        if let (Some(o), Some(name)) = (obs, &self.name) {
            o.observe(name, x);
        }
    }

    /// `x` [T, in] → [T, out].
    pub fn forward(&self, x: ArrayView2<f32>, obs: Obs) -> Array2<f32> {
        self.observed(x, obs);
        let mut out = Array2::zeros((x.nrows(), self.out_dim()));
        if x.nrows() == 1 {
            self.gemv(x.row(0).as_slice().expect("contiguous row"), out.as_slice_mut().expect("contiguous"));
        } else if x.nrows() <= FEW_TOKENS && x.is_standard_layout() {
            self.gemv_few(x, out.view_mut());
        } else {
            self.gemm(x, out.view_mut());
        }
        out
    }

    /// A few tokens (LAMBADA's target rows through the head): each stored row read once, from
    /// where it lies, for all of them; widening and packing a tile would cost more than it saves.
    fn gemv_few(&self, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        const ROWS: usize = 32;
        let t = x.nrows();
        let xs: Vec<BlockInput> = x.outer_iter().map(|r| self.input(r.to_slice().expect("standard layout"))).collect();
        let mut cols: Vec<f32> = vec![0.0; self.rows * t];
        cols.par_chunks_mut(ROWS * t).enumerate().for_each(|(c, o)| {
            for (r, o) in o.chunks_mut(t).enumerate() {
                for (v, x) in o.iter_mut().zip(&xs) {
                    self.dot_rows(c * ROWS + r, x, std::slice::from_mut(v));
                }
            }
        });
        for (r, col) in cols.chunks(t).enumerate() {
            for (ti, &v) in col.iter().enumerate() {
                out[[ti, r]] = v;
            }
        }
    }

    fn gemv(&self, x: &[f32], out: &mut [f32]) {
        const ROWS: usize = 32;
        let x = &self.input(x);
        let rows = |(c, o): (usize, &mut [f32])| self.dot_rows(c * ROWS, x, o);
        // Below ~256 KiB of weights, handing work to other threads costs more than it saves.
        if self.rows * self.cols < 1 << 16 {
            out.chunks_mut(ROWS).enumerate().for_each(rows);
        } else {
            out.par_chunks_mut(ROWS).enumerate().for_each(rows);
        }
    }

    /// Float rows as stored: (bytes, type, bytes per row).
    fn float_rows(&self) -> Option<(&[u8], Float, usize)> {
        match &self.w {
            Weight::Float { tensor, ty } => Some((tensor.bytes(), *ty, self.cols * ty.size())),
            Weight::Quant { .. } | Weight::Columns { .. } => None,
        }
    }

    fn gemm(&self, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        let k = self.cols;
        // Float rows and a short sequence (a LAMBADA document): read in place by the
        // register-block kernel, tasks of rows. Longer ones amortise widening and packing tiles.
        let short = x.nrows() < ROW_FORM_TOKENS;
        if let (true, true, Some((w, ty, row_bytes)), Some(xr), &[ldc, 1]) =
            (short, crate::rowgemm::available(), self.float_rows(), x.as_slice(), out.strides())
        {
            let (t, ldc) = (x.nrows(), ldc as usize);
            let c = SendPtr(out.as_mut_ptr());
            let tasks = self.rows.div_ceil(crate::rowgemm::TASK_ROWS);
            (0..tasks).into_par_iter().for_each(|i| {
                let r0 = i * crate::rowgemm::TASK_ROWS;
                let n = crate::rowgemm::TASK_ROWS.min(self.rows - r0);
                // SAFETY: the kernel exists; task i alone writes columns r0..r0 + n of `out`.
                unsafe { crate::rowgemm::run(ty, w, row_bytes, r0, n, xr, t, k, c.get().add(r0), ldc) };
            });
            return;
        }
        // One task per tile of rows: the tile is widened and packed once, then every token runs
        // through it.
        let (x_rows, level) = (x.as_slice(), kernels::level());
        out.axis_chunks_iter_mut(Axis(1), TILE_ROWS).into_par_iter().enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(tile, scratch), (i, mut o)| {
                let n = o.ncols();
                let start = i * TILE_ROWS;
                if let (Some(xr), &[ldc, 1]) = (x_rows, o.strides()) {
                    let rows = |j: usize, buf: &mut [f32]| self.widen_rows(start + j, buf);
                    // SAFETY: the tile's columns of `out` are this task's alone, rows `ldc` apart;
                    // `level` is the CPU's.
                    let done = unsafe {
                        crate::gemm::gemm(level, xr, o.nrows(), k, &rows, n, o.as_mut_ptr(), ldc as usize, scratch)
                    };
                    if done.is_some() {
                        return;
                    }
                }
                tile.resize(n * k, 0.0);
                self.widen_rows(start, tile);
                let w = ArrayView2::from_shape((n, k), &tile[..]).expect("tile shape");
                general_mat_mul(1.0, &x, &w.t(), 0.0, &mut o);
            },
        );
    }
}

/// Several products at once: for one token each, all GEMVs share a single parallel pass over
/// row blocks (one wake-up of the thread pool instead of one per matrix); otherwise side by side.
pub fn forward_many(items: &[(&Linear, ArrayView2<f32>)], obs: Obs) -> Vec<Array2<f32>> {
    if items.iter().any(|(_, x)| x.nrows() != 1) {
        // Side by side: a LoRA factor of 32-128 rows is one GEMM tile, which one thread alone
        // would otherwise run while the others wait.
        return items.par_iter().map(|(l, x)| l.forward(*x, obs)).collect();
    }
    const ROWS: usize = 64;
    items.iter().for_each(|(l, x)| l.observed(*x, obs));
    let mut outs: Vec<Array2<f32>> = items.iter().map(|(l, _)| Array2::zeros((1, l.out_dim()))).collect();
    let inputs: Vec<BlockInput> = items.iter().map(|(l, x)| l.input(x.as_slice().expect("contiguous row"))).collect();
    let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        for (c, chunk) in out.as_slice_mut().expect("contiguous").chunks_mut(ROWS).enumerate() {
            tasks.push((i, c * ROWS, chunk));
        }
    }
    tasks.into_par_iter().for_each(|(i, start, out)| items[i].0.dot_rows(start, &inputs[i], out));
    outs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemv_and_gemm_agree_with_a_plain_product() {
        // Several row tiles and token blocks, both with ragged ends.
        let (n, k, t) = (600, 53, 300);
        let w = Array2::from_shape_fn((n, k), |(i, j)| ((i * 31 + j * 7) % 13) as f32 / 13.0 - 0.5);
        let x = Array2::from_shape_fn((t, k), |(i, j)| ((i * 17 + j * 3) % 11) as f32 / 11.0 - 0.5);
        let lin = Linear::new(w.clone());
        let all = lin.forward(x.view(), None);
        let few = lin.forward(x.slice(ndarray::s![10..15, ..]), None);
        for ti in (0..t).step_by(7) {
            if (10..15).contains(&ti) {
                for o in 0..n {
                    let plain: f64 = (0..k).map(|j| w[[o, j]] as f64 * x[[ti, j]] as f64).sum();
                    assert!((few[[ti - 10, o]] as f64 - plain).abs() < 1e-5);
                }
            }
            let one = lin.forward(x.slice(ndarray::s![ti..ti + 1, ..]), None);
            for o in 0..n {
                let plain: f64 = (0..k).map(|j| w[[o, j]] as f64 * x[[ti, j]] as f64).sum();
                assert!((all[[ti, o]] as f64 - plain).abs() < 1e-5);
                assert!((one[[0, o]] as f64 - plain).abs() < 1e-5);
            }
        }
    }

    /// Products of named matrices are shown to the pass's observer, squares summed per input
    /// column over all calls; unnamed ones, and unobserved passes, are not.
    #[test]
    fn named_products_are_recorded_for_the_imatrix() {
        use crate::imatrix::{Recorder, Stat};
        use ndarray::array;
        let lin = Linear::named(array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]], "m");
        let unnamed = Linear::new(array![[1.0f32, 2.0]]);
        let rec = Recorder::new();
        lin.forward(array![[5.0f32, 6.0]].view(), None); // not observed: not counted
        lin.forward(array![[1.0f32, -2.0], [3.0, 0.5]].view(), Some(&rec));
        lin.forward(array![[2.0f32, 1.0]].view(), Some(&rec));
        unnamed.forward(array![[9.0f32, 9.0]].view(), Some(&rec));
        let stats = rec.finish();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats["m"], Stat { sum_sq: vec![1.0 + 9.0 + 4.0, 4.0 + 0.25 + 1.0], count: 3 });
    }
}
