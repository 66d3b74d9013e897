//! RWKV-6 "Finch": RWKV-5.2's multi-head state with a data-dependent token shift (a 5-way LoRA
//! over the previous-minus-current difference) and a data-dependent per-token decay.

use crate::imatrix::Obs;
use crate::linear::Linear;
use crate::ops::{self, sigmoid, silu};
use crate::state::State;
use crate::weights::{Embedding, Weights};
use crate::{Kernel, Options};
use convert::{Model, Result};
use ndarray::{s, Array2, ArrayView2};

struct TimeMixV6 {
    maa_x: Vec<f32>,
    /// w, k, v, r, g: the order of `time_maa_w2`'s five slices.
    maa: [Vec<f32>; 5],
    maa_w1: Linear,
    maa_w2: [Linear; 5],
    decay: Vec<f32>,
    decay_w1: Linear,
    decay_w2: Linear,
    bonus: Vec<f32>,
    receptance: Linear,
    key: Linear,
    value: Linear,
    gate: Linear,
    output: Linear,
    ln_x: (Vec<f32>, Vec<f32>),
}

struct ChannelMixV6 {
    maa_k: Vec<f32>,
    maa_r: Vec<f32>,
    key: Linear,
    receptance: Linear,
    value: Linear,
}

struct Layer {
    ln1: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
    att: TimeMixV6,
    ffn: ChannelMixV6,
}

pub struct RwkvV6 {
    n_head: usize,
    head_size: usize,
    emb: Embedding,
    layers: Vec<Layer>,
    ln_out: (Vec<f32>, Vec<f32>),
    pub head: Linear,
    pub kernel: Kernel,
}

impl RwkvV6 {
    pub fn load(model: &Model, options: &Options) -> Result<RwkvV6> {
        let w = Weights::new(model);
        let hp = &model.hparams;
        let (h, n) = (hp.n_head.expect("v6 has heads"), hp.head_size.expect("v6 has heads"));
        let (c, dm) = (hp.n_embd, hp.time_mix_extra_dim.expect("v6 has a token-shift LoRA"));
        let mut layers = Vec::new();
        for i in 0..hp.n_layer {
            let a = |s: &str| format!("blocks.{i}.att.{s}");
            let f = |s: &str| format!("blocks.{i}.ffn.{s}");
            let w2 = w.vec(&a("time_maa_w2"))?;
            let slice = |j: usize| {
                Linear::new(
                    Array2::from_shape_vec((dm, c), w2[j * dm * c..(j + 1) * dm * c].to_vec())
                        .expect("shape")
                        .reversed_axes(),
                )
            };
            layers.push(Layer {
                ln1: w.layer_norm(&format!("blocks.{i}.ln1"))?,
                ln2: w.layer_norm(&format!("blocks.{i}.ln2"))?,
                att: TimeMixV6 {
                    maa_x: w.vec(&a("time_maa_x"))?,
                    maa: [
                        w.vec(&a("time_maa_w"))?,
                        w.vec(&a("time_maa_k"))?,
                        w.vec(&a("time_maa_v"))?,
                        w.vec(&a("time_maa_r"))?,
                        w.vec(&a("time_maa_g"))?,
                    ],
                    maa_w1: w.lora(&a("time_maa_w1"))?,
                    maa_w2: [slice(0), slice(1), slice(2), slice(3), slice(4)],
                    decay: w.vec(&a("time_decay"))?,
                    decay_w1: w.lora(&a("time_decay_w1"))?,
                    decay_w2: w.lora(&a("time_decay_w2"))?,
                    bonus: w.vec(&a("time_faaaa"))?,
                    receptance: w.linear(&a("receptance.weight"))?,
                    key: w.linear(&a("key.weight"))?,
                    value: w.linear(&a("value.weight"))?,
                    gate: w.linear(&a("gate.weight"))?,
                    output: w.linear(&a("output.weight"))?,
                    ln_x: w.layer_norm(&a("ln_x"))?,
                },
                ffn: ChannelMixV6 {
                    maa_k: w.vec(&f("time_maa_k"))?,
                    maa_r: w.vec(&f("time_maa_r"))?,
                    key: w.linear(&f("key.weight"))?,
                    receptance: w.linear(&f("receptance.weight"))?,
                    value: w.linear(&f("value.weight"))?,
                },
            });
        }
        Ok(RwkvV6 {
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
        att: &TimeMixV6,
        xx: ArrayView2<f32>,
        prev: ArrayView2<f32>,
        s: &mut [f32],
        obs: Obs,
    ) -> Array2<f32> {
        let dm = att.maa_w2[0].in_dim();
        let xxx = ops::lerp(xx, prev, &att.maa_x);
        let m = ops::map(att.maa_w1.forward(xxx.view(), obs), f32::tanh);
        // x_c = xx + (prev − xx)·(maa_c + m_c·W2[c]) for c in w, k, v, r, g.
        let mixed: Vec<Array2<f32>> = (0..5)
            .map(|c| {
                let mc = att.maa_w2[c].forward(m.slice(s![.., c * dm..(c + 1) * dm]).as_standard_layout().view(), obs);
                let mut out = xx.to_owned();
                ndarray::Zip::from(&mut out)
                    .and(&prev)
                    .and(&mc)
                    .and_broadcast(&ndarray::aview1(&att.maa[c]))
                    .for_each(|o, &p, &m, &b| *o += (p - *o) * (b + m));
                out
            })
            .collect();
        let [xw, xk, xv, xr, xg] = [&mixed[0], &mixed[1], &mixed[2], &mixed[3], &mixed[4]];
        let r = att.receptance.forward(xr.view(), obs);
        let k = att.key.forward(xk.view(), obs);
        let v = att.value.forward(xv.view(), obs);
        let g = ops::map(att.gate.forward(xg.view(), obs), silu);
        let lora = att.decay_w2.forward(ops::map(att.decay_w1.forward(xw.view(), obs), f32::tanh).view(), obs);
        let w = ops::map(ops::add_row(lora, &att.decay), |d| (-d.exp()).exp());
        let mut y = crate::wkv::v5::run(
            self.kernel,
            self.head_size,
            &r,
            &k,
            &v,
            w.as_slice().expect("standard"),
            &att.bonus,
            s,
        );
        ops::group_norm(y.view_mut(), self.n_head, &att.ln_x.0, &att.ln_x.1, ops::GN_EPS);
        y *= &g;
        att.output.forward(y.view(), obs)
    }
}

impl crate::rwkv::Rwkv for RwkvV6 {
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
            let ffn = &layer.ffn;
            let r =
                ops::map(ffn.receptance.forward(ops::lerp(xx.view(), prev.view(), &ffn.maa_r).view(), obs), sigmoid);
            let k = ops::map(ffn.key.forward(ops::lerp(xx.view(), prev.view(), &ffn.maa_k).view(), obs), ops::relu_sq);
            x += &(r * ffn.value.forward(k.view(), obs));
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
