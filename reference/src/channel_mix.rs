//! The channel-mix of RWKV-4 and RWKV-5 (the same in both): `time_mix` token shift, squared-ReLU
//! key, sigmoid receptance.

use crate::imatrix::Obs;
use crate::linear::Linear;
use crate::ops::{self, sigmoid};
use crate::weights::Weights;
use convert::Result;
use ndarray::{Array2, ArrayView2};

pub(crate) struct ChannelMixV4 {
    pub mix_k: Vec<f32>,
    pub mix_r: Vec<f32>,
    pub key: Linear,
    pub receptance: Linear,
    pub value: Linear,
}

impl ChannelMixV4 {
    pub(crate) fn load(w: &Weights, i: usize) -> Result<ChannelMixV4> {
        let f = |n: &str| format!("blocks.{i}.ffn.{n}");
        Ok(ChannelMixV4 {
            mix_k: w.vec(&f("time_mix_k"))?,
            mix_r: w.vec(&f("time_mix_r"))?,
            key: w.linear(&f("key.weight"))?,
            receptance: w.linear(&f("receptance.weight"))?,
            value: w.linear(&f("value.weight"))?,
        })
    }

    /// `σ(rx·Rᵀ) ⊙ (relu²(kx·Kᵀ)·Vᵀ)` with `time_mix` token shift.
    pub(crate) fn forward(&self, xx: ArrayView2<f32>, prev: ArrayView2<f32>, obs: Obs) -> Array2<f32> {
        let kx = ops::mix(xx, prev, &self.mix_k);
        let rx = ops::mix(xx, prev, &self.mix_r);
        let r = ops::map(self.receptance.forward(rx.view(), obs), sigmoid);
        let k = ops::map(self.key.forward(kx.view(), obs), ops::relu_sq);
        r * self.value.forward(k.view(), obs)
    }
}
