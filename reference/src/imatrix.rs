//! Importance statistics as llama.cpp's `llama-imatrix` collects them: for every weight matrix,
//! the sum over all tokens of the square of each input column, and the number of tokens. The
//! quantizers weight each column's error by the mean square (`Σx² / n`).
//!
//! The engine reports each product to an [`Observer`] its caller hands it
//! ([`crate::Engine::hidden_observed`]); a [`Recorder`] is the observer that sums the statistics.

use ndarray::ArrayView2;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What every product `x·Wᵀ` of a named matrix is shown to while an observed pass runs: the
/// matrix's checkpoint name (e.g. `blocks.0.att.key.weight`) and its input rows.
pub trait Observer: Sync {
    fn observe(&self, name: &str, x: ArrayView2<f32>);
}

/// The observer of a pass: `None` for an unobserved one.
pub type Obs<'a> = Option<&'a dyn Observer>;

/// One matrix's statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// Σ over tokens of x[j]², per input column j (summed in f64).
    pub sum_sq: Vec<f64>,
    /// Tokens seen.
    pub count: u64,
}

/// Sums of squares per input column, per matrix, over everything it observes.
#[derive(Default)]
pub struct Recorder {
    sums: Mutex<BTreeMap<String, Stat>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The statistics per checkpoint tensor name.
    pub fn finish(self) -> BTreeMap<String, Stat> {
        self.sums.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl Observer for Recorder {
    fn observe(&self, name: &str, x: ArrayView2<f32>) {
        let mut local = vec![0f64; x.ncols()];
        for row in x.rows() {
            for (s, &v) in local.iter_mut().zip(row) {
                *s += v as f64 * v as f64;
            }
        }
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        let e = sums.entry(name.to_string()).or_insert_with(|| Stat { sum_sq: vec![0.0; x.ncols()], count: 0 });
        e.sum_sq.iter_mut().zip(&local).for_each(|(a, b)| *a += b);
        e.count += x.nrows() as u64;
    }
}
