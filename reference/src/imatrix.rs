//! Importance statistics as llama.cpp's `llama-imatrix` collects them: for every weight matrix,
//! the sum over all tokens of the square of each input column, and the number of tokens. The
//! quantizers weight each column's error by the mean square (`Σx² / n`).
//!
//! Recording is process-wide (the matrices are deep inside the engines): [`Recording::start`]
//! turns it on and [`Recording::finish`] takes the sums; one recording at a time.

use ndarray::ArrayView2;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ON: AtomicBool = AtomicBool::new(false);
static SUMS: Mutex<BTreeMap<String, Stat>> = Mutex::new(BTreeMap::new());
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One matrix's statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// Σ over tokens of x[j]², per input column j (summed in f64).
    pub sum_sq: Vec<f64>,
    /// Tokens seen.
    pub count: u64,
}

/// A recording in progress; holds the process-wide lock until finished or dropped.
pub struct Recording {
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl Recording {
    pub fn start() -> Recording {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        SUMS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        ON.store(true, Ordering::SeqCst);
        Recording { _guard: guard }
    }

    /// The statistics per checkpoint tensor name (e.g. `blocks.0.att.key.weight`).
    pub fn finish(self) -> BTreeMap<String, Stat> {
        ON.store(false, Ordering::SeqCst);
        std::mem::take(&mut *SUMS.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        ON.store(false, Ordering::SeqCst);
    }
}

/// Called by every product `x·Wᵀ`, with the matrix's checkpoint name (unnamed ones are not
/// recorded).
pub(crate) fn observe(name: Option<&str>, x: ArrayView2<f32>) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let Some(name) = name else { return };
    let mut local = vec![0f64; x.ncols()];
    for row in x.rows() {
        for (s, &v) in local.iter_mut().zip(row) {
            *s += v as f64 * v as f64;
        }
    }
    let mut sums = SUMS.lock().unwrap_or_else(|e| e.into_inner());
    let e = sums.entry(name.to_string()).or_insert_with(|| Stat { sum_sq: vec![0.0; x.ncols()], count: 0 });
    e.sum_sq.iter_mut().zip(&local).for_each(|(a, b)| *a += b);
    e.count += x.nrows() as u64;
}
