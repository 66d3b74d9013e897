//! The one interface every version's model implements (`vN.rs`); [`crate::Engine`] holds any of
//! them.

use crate::imatrix::Obs;
use crate::linear::Linear;
use crate::{Kernel, State};
use ndarray::{Array2, ArrayView2};

/// What every version's model gives the engine; `vN.rs` each implement it once.
pub trait Rwkv: Send + Sync {
    fn new_state(&self) -> State;
    /// Hidden states after `ln_out` for every token, [T, C]; the state moves past the tokens.
    fn forward(&self, tokens: &[u32], state: &mut State, obs: Obs) -> Array2<f32>;
    /// Several independent sequences stacked `[ΣT, C]`, each from its own state; by default one
    /// after another.
    fn forward_batch(&self, seqs: &[&[u32]], states: &mut [State], obs: Obs) -> Array2<f32> {
        let parts: Vec<Array2<f32>> = seqs.iter().zip(states).map(|(s, st)| self.forward(s, st, obs)).collect();
        let views: Vec<ArrayView2<f32>> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views).expect("rows of one width")
    }
    fn head(&self) -> &Linear;
    fn vocab(&self) -> usize;
    fn set_kernel(&mut self, kernel: Kernel);
}
