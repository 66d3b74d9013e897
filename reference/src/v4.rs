//! RWKV-4: the official package's `att_one/att_seq` and `ffn_one/ffn_seq` in f32. Time-mix is a
//! per-channel exponential moving average in the stable (aa, bb, pp) form; sigmoid receptance.

use crate::channel_mix::ChannelMixV4;
use crate::imatrix::Obs;
use crate::linear::Linear;
use crate::ops::{self, sigmoid};
use crate::state::State;
use crate::weights::{Embedding, Weights};
use crate::{wkv, Kernel, Options};
use convert::{Model, Result};
use ndarray::{Array2, ArrayView2};

struct TimeMixV4 {
    /// `time_first` (u, added to k for the current token).
    first: Vec<f32>,
    /// `−exp(time_decay)`: per-channel log decay.
    decay: Vec<f32>,
    mix_k: Vec<f32>,
    mix_v: Vec<f32>,
    mix_r: Vec<f32>,
    key: Linear,
    value: Linear,
    receptance: Linear,
    output: Linear,
}

struct Layer {
    ln1: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
    att: TimeMixV4,
    ffn: ChannelMixV4,
}

pub struct RwkvV4 {
    emb: Embedding,
    layers: Vec<Layer>,
    ln_out: (Vec<f32>, Vec<f32>),
    pub head: Linear,
    pub kernel: Kernel,
}

impl RwkvV4 {
    pub fn load(model: &Model, options: &Options) -> Result<RwkvV4> {
        let w = Weights::new(model);
        let mut layers = Vec::new();
        for i in 0..model.hparams.n_layer {
            let a = |n: &str| format!("blocks.{i}.att.{n}");
            layers.push(Layer {
                ln1: w.layer_norm(&format!("blocks.{i}.ln1"))?,
                ln2: w.layer_norm(&format!("blocks.{i}.ln2"))?,
                att: TimeMixV4 {
                    first: w.vec(&a("time_first"))?,
                    decay: w.vec(&a("time_decay"))?.iter().map(|d| -d.exp()).collect(),
                    mix_k: w.vec(&a("time_mix_k"))?,
                    mix_v: w.vec(&a("time_mix_v"))?,
                    mix_r: w.vec(&a("time_mix_r"))?,
                    key: w.linear(&a("key.weight"))?,
                    value: w.linear(&a("value.weight"))?,
                    receptance: w.linear(&a("receptance.weight"))?,
                    output: w.linear(&a("output.weight"))?,
                },
                ffn: ChannelMixV4::load(&w, i)?,
            });
        }
        Ok(RwkvV4 {
            emb: Embedding::new(&w, options.ln0_rounding(&w)?)?,
            layers,
            ln_out: w.layer_norm("ln_out")?,
            head: w.linear("head.weight")?,
            kernel: Kernel::Fast,
        })
    }

    fn time_mix(
        &self,
        att: &TimeMixV4,
        xx: ArrayView2<f32>,
        prev: ArrayView2<f32>,
        state: &mut State,
        i: usize,
        obs: Obs,
    ) -> Array2<f32> {
        let k = att.key.forward(ops::mix(xx, prev, &att.mix_k).view(), obs);
        let v = att.value.forward(ops::mix(xx, prev, &att.mix_v).view(), obs);
        let r = ops::map(att.receptance.forward(ops::mix(xx, prev, &att.mix_r).view(), obs), sigmoid);
        let mut wkv = Array2::zeros(k.raw_dim());
        let [_, aa, bb, pp, _] =
            state.tensors.get_disjoint_mut([5 * i, 5 * i + 1, 5 * i + 2, 5 * i + 3, 5 * i + 4]).expect("distinct");
        let s = wkv::v4::State {
            aa: aa.as_slice_mut().expect("contiguous"),
            bb: bb.as_slice_mut().expect("contiguous"),
            pp: pp.as_slice_mut().expect("contiguous"),
        };
        let (ks, vs) = (k.as_slice().expect("standard"), v.as_slice().expect("standard"));
        let out = wkv.as_slice_mut().expect("standard");
        match self.kernel {
            Kernel::Plain => wkv::v4::plain(&att.first, &att.decay, ks, vs, s, out),
            Kernel::Fast => wkv::v4::fast(&att.first, &att.decay, ks, vs, s, out),
        }
        att.output.forward((r * wkv).view(), obs)
    }
}

impl crate::rwkv::Rwkv for RwkvV4 {
    fn new_state(&self) -> State {
        let c = self.emb.dim();
        let mut s = State::zeros(&(0..self.layers.len()).flat_map(|_| vec![vec![c]; 5]).collect::<Vec<_>>());
        for i in 0..self.layers.len() {
            s.slot(5 * i + 3).fill(-1e30);
        }
        s
    }
    fn forward(&self, tokens: &[u32], state: &mut State, obs: Obs) -> Array2<f32> {
        let mut x = self.emb.rows(tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            let xx = ops::layer_norm(x.view(), &layer.ln1.0, &layer.ln1.1);
            let prev = ops::shift(xx.view(), state.slot(5 * i));
            x += &self.time_mix(&layer.att, xx.view(), prev.view(), state, i, obs);
            let xx = ops::layer_norm(x.view(), &layer.ln2.0, &layer.ln2.1);
            let prev = ops::shift(xx.view(), state.slot(5 * i + 4));
            x += &layer.ffn.forward(xx.view(), prev.view(), obs);
        }
        ops::layer_norm(x.view(), &self.ln_out.0, &self.ln_out.1)
    }
    fn head(&self) -> &Linear {
        &self.head
    }
    fn vocab(&self) -> usize {
        self.emb.vocab()
    }
    fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }
}
