//! RWKV-5 "Eagle" (5.0, 5.1, 5.2): multi-head matrix-valued state, decay per head (5.0/5.1) or
//! per channel (5.2), receptance without sigmoid, GroupNorm `ln_x`, silu gate from 5.1 on.
//! The channel-mix is RWKV-4's.

use crate::channel_mix::ChannelMixV4;
use crate::imatrix::Obs;
use crate::linear::Linear;
use crate::ops::{self, silu};
use crate::state::State;
use crate::weights::{Embedding, Weights};
use crate::{wkv, Kernel, Options};
use convert::arch::Version;
use convert::{Model, Result};
use ndarray::{Array2, ArrayView2};

struct TimeMixV5 {
    mix_k: Vec<f32>,
    mix_v: Vec<f32>,
    mix_r: Vec<f32>,
    /// 5.1 and 5.2: `time_mix_g` and the gate projection.
    gate: Option<(Vec<f32>, Linear)>,
    /// Per channel: `exp(−exp(time_decay))` (per head values repeated over the head for 5.0/5.1).
    decay: Vec<f32>,
    /// Per channel bonus `u`.
    bonus: Vec<f32>,
    receptance: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    ln_x: (Vec<f32>, Vec<f32>),
}

struct Layer {
    ln1: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
    att: TimeMixV5,
    ffn: ChannelMixV4,
}

pub struct RwkvV5 {
    n_head: usize,
    head_size: usize,
    emb: Embedding,
    layers: Vec<Layer>,
    ln_out: (Vec<f32>, Vec<f32>),
    pub head: Linear,
    pub kernel: Kernel,
}

/// Repeat per-head values over each head's channels.
fn per_channel(v: Vec<f32>, head_size: usize) -> Vec<f32> {
    v.iter().flat_map(|&x| std::iter::repeat_n(x, head_size)).collect()
}

impl RwkvV5 {
    pub fn load(model: &Model, options: &Options) -> Result<RwkvV5> {
        let w = Weights::new(model);
        let hp = &model.hparams;
        let (h, n) = (hp.n_head.expect("v5 has heads"), hp.head_size.expect("v5 has heads"));
        let per_head = model.version != Version::V5_2;
        let mut layers = Vec::new();
        for i in 0..hp.n_layer {
            let a = |s: &str| format!("blocks.{i}.att.{s}");
            let mut decay: Vec<f32> = w.vec(&a("time_decay"))?.iter().map(|d| (-d.exp()).exp()).collect();
            // u: 5.2 and faaaa files store it directly; 5.0/5.1 `time_first` stores log u.
            let mut bonus = if w.has(&a("time_faaaa")) {
                w.vec(&a("time_faaaa"))?
            } else {
                w.vec(&a("time_first"))?.iter().map(|x| x.exp()).collect()
            };
            if per_head {
                decay = per_channel(decay, n);
                bonus = per_channel(bonus, n);
            }
            let gate = if model.version == Version::V5_0 {
                None
            } else {
                Some((w.vec(&a("time_mix_g"))?, w.linear(&a("gate.weight"))?))
            };
            layers.push(Layer {
                ln1: w.layer_norm(&format!("blocks.{i}.ln1"))?,
                ln2: w.layer_norm(&format!("blocks.{i}.ln2"))?,
                att: TimeMixV5 {
                    mix_k: w.vec(&a("time_mix_k"))?,
                    mix_v: w.vec(&a("time_mix_v"))?,
                    mix_r: w.vec(&a("time_mix_r"))?,
                    gate,
                    decay,
                    bonus,
                    receptance: w.linear(&a("receptance.weight"))?,
                    key: w.linear(&a("key.weight"))?,
                    value: w.linear(&a("value.weight"))?,
                    output: w.linear(&a("output.weight"))?,
                    ln_x: w.layer_norm(&a("ln_x"))?,
                },
                ffn: ChannelMixV4::load(&w, i)?,
            });
        }
        Ok(RwkvV5 {
            n_head: h,
            head_size: n,
            emb: Embedding::new(&w, options.ln0_rounding(&w)?)?,
            layers,
            ln_out: w.layer_norm("ln_out")?,
            head: w.linear("head.weight")?,
            kernel: Kernel::Fast,
        })
    }

    fn time_mix(
        &self,
        att: &TimeMixV5,
        xx: ArrayView2<f32>,
        prev: ArrayView2<f32>,
        s: &mut [f32],
        obs: Obs,
    ) -> Array2<f32> {
        let r = att.receptance.forward(ops::mix(xx, prev, &att.mix_r).view(), obs);
        let k = att.key.forward(ops::mix(xx, prev, &att.mix_k).view(), obs);
        let v = att.value.forward(ops::mix(xx, prev, &att.mix_v).view(), obs);
        let t_len = xx.nrows();
        let w: Vec<f32> = (0..t_len).flat_map(|_| att.decay.iter().copied()).collect();
        let mut y = wkv::v5::run(self.kernel, self.head_size, &r, &k, &v, &w, &att.bonus, s);
        ops::group_norm(y.view_mut(), self.n_head, &att.ln_x.0, &att.ln_x.1, ops::GN_EPS);
        if let Some((mix_g, gate)) = &att.gate {
            y *= &ops::map(gate.forward(ops::mix(xx, prev, mix_g).view(), obs), silu);
        }
        att.output.forward(y.view(), obs)
    }
}

impl crate::rwkv::Rwkv for RwkvV5 {
    fn new_state(&self) -> State {
        let c = self.emb.dim();
        let (h, n) = (self.n_head, self.head_size);
        State::zeros(&(0..self.layers.len()).flat_map(|_| [vec![c], vec![h, n, n], vec![c]]).collect::<Vec<_>>())
    }
    fn forward(&self, tokens: &[u32], state: &mut State, obs: Obs) -> Array2<f32> {
        let mut x = self.emb.rows(tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            let xx = ops::layer_norm(x.view(), &layer.ln1.0, &layer.ln1.1);
            let prev = ops::shift(xx.view(), state.slot(3 * i));
            x += &self.time_mix(&layer.att, xx.view(), prev.view(), state.slot(3 * i + 1), obs);
            let xx = ops::layer_norm(x.view(), &layer.ln2.0, &layer.ln2.1);
            let prev = ops::shift(xx.view(), state.slot(3 * i + 2));
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
