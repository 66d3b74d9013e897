//! RWKV-7 "Goose" (x070), and DeepEmbed: the official package's `RWKV_x070` in f32.
//! Time-mix: a generalised delta rule with a data-dependent decay, in-context learning rate `a`,
//! value residual from layer 0 and an output gate; channel-mix: relu² with no receptance.

use crate::imatrix::Obs;
use crate::linear::{forward_many, Linear};
use crate::ops::{self, sigmoid};
use crate::state::State;
use crate::weights::{Embedding, Weights};
use crate::{wkv, Kernel};
use convert::{Model, Result};
use ndarray::{Array2, ArrayView2, Zip};

/// The package's CPU decay constant: `exp(−0.606531·σ(z))` (≈ e^{−0.5}, rounded).
const DECAY_SCALE: f32 = 0.606531;

struct TimeMixV7 {
    x_r: Vec<f32>,
    x_w: Vec<f32>,
    x_k: Vec<f32>,
    x_v: Vec<f32>,
    x_a: Vec<f32>,
    x_g: Vec<f32>,
    w0: Vec<f32>,
    w1: Linear,
    w2: Linear,
    a0: Vec<f32>,
    a1: Linear,
    a2: Linear,
    /// Value residual gate; none in layer 0, where `v` becomes `v_first`.
    v_residual: Option<(Vec<f32>, Linear, Linear)>,
    g1: Linear,
    g2: Linear,
    k_k: Vec<f32>,
    k_a: Vec<f32>,
    r_k: Vec<f32>,
    receptance: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    ln_x: (Vec<f32>, Vec<f32>),
}

struct DeepEmbedV7 {
    /// `s_emb + ln0(emb)·s_emb_xᵀ`, per token, computed on demand: [V, R·R].
    s_emb: convert::Tensor,
    s_emb_x: Linear,
    s1: Linear,
    s2: Linear,
    s0: Vec<f32>,
    rank: usize,
}

struct ChannelMixV7 {
    x_k: Vec<f32>,
    key: Linear,
    value: Linear,
    deep_embed: Option<DeepEmbedV7>,
}

struct Layer {
    ln1: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
    att: TimeMixV7,
    ffn: ChannelMixV7,
}

pub struct RwkvV7 {
    n_head: usize,
    head_size: usize,
    emb: Embedding,
    layers: Vec<Layer>,
    ln_out: (Vec<f32>, Vec<f32>),
    pub head: Linear,
    pub kernel: Kernel,
}

impl RwkvV7 {
    pub fn load(model: &Model) -> Result<RwkvV7> {
        let w = Weights::new(model);
        let hp = &model.hparams;
        let mut layers = Vec::with_capacity(hp.n_layer);
        for i in 0..hp.n_layer {
            let a = |n: &str| format!("blocks.{i}.att.{n}");
            let f = |n: &str| format!("blocks.{i}.ffn.{n}");
            let v_residual = if i == 0 { None } else { Some((w.vec(&a("v0"))?, w.lora(&a("v1"))?, w.lora(&a("v2"))?)) };
            let deep_embed = match hp.deep_embed {
                None => None,
                Some(de) => Some(DeepEmbedV7 {
                    s_emb: w.tensor(&f("s_emb.weight"))?.clone(),
                    s_emb_x: w.linear(&f("s_emb_x.weight"))?,
                    s1: w.lora(&f("s1"))?,
                    s2: w.lora(&f("s2"))?,
                    s0: w.vec(&f("s0"))?,
                    rank: de.rank,
                }),
            };
            layers.push(Layer {
                ln1: w.layer_norm(&format!("blocks.{i}.ln1"))?,
                ln2: w.layer_norm(&format!("blocks.{i}.ln2"))?,
                att: TimeMixV7 {
                    x_r: w.vec(&a("x_r"))?,
                    x_w: w.vec(&a("x_w"))?,
                    x_k: w.vec(&a("x_k"))?,
                    x_v: w.vec(&a("x_v"))?,
                    x_a: w.vec(&a("x_a"))?,
                    x_g: w.vec(&a("x_g"))?,
                    w0: w.vec(&a("w0"))?,
                    w1: w.lora(&a("w1"))?,
                    w2: w.lora(&a("w2"))?,
                    a0: w.vec(&a("a0"))?,
                    a1: w.lora(&a("a1"))?,
                    a2: w.lora(&a("a2"))?,
                    v_residual,
                    g1: w.lora(&a("g1"))?,
                    g2: w.lora(&a("g2"))?,
                    k_k: w.vec(&a("k_k"))?,
                    k_a: w.vec(&a("k_a"))?,
                    r_k: w.vec(&a("r_k"))?,
                    receptance: w.linear(&a("receptance.weight"))?,
                    key: w.linear(&a("key.weight"))?,
                    value: w.linear(&a("value.weight"))?,
                    output: w.linear(&a("output.weight"))?,
                    ln_x: w.layer_norm(&a("ln_x"))?,
                },
                ffn: ChannelMixV7 {
                    x_k: w.vec(&f("x_k"))?,
                    key: w.linear(&f("key.weight"))?,
                    value: w.linear(&f("value.weight"))?,
                    deep_embed,
                },
            });
        }
        Ok(RwkvV7 {
            n_head: hp.n_head.expect("v7 has heads"),
            head_size: hp.head_size.expect("v7 has heads"),
            // v7 widens to f32 before ln0: no rounding quirk.
            emb: Embedding::new(&w, None)?,
            layers,
            ln_out: w.layer_norm("ln_out")?,
            head: w.linear("head.weight")?,
            kernel: Kernel::Fast,
        })
    }

    fn time_mix(
        &self,
        att: &TimeMixV7,
        xx: ArrayView2<f32>,
        prev: ArrayView2<f32>,
        spans: &[std::ops::Range<usize>],
        states: &mut [&mut [f32]],
        v_first: &mut Array2<f32>,
        obs: Obs,
    ) -> Array2<f32> {
        let (h, n) = (self.n_head, self.head_size);
        let lerp = |m: &[f32]| ops::lerp(xx, prev, m);
        let (xr, xw, xk, xv, xa, xg) =
            (lerp(&att.x_r), lerp(&att.x_w), lerp(&att.x_k), lerp(&att.x_v), lerp(&att.x_a), lerp(&att.x_g));
        // The projections that depend only on the mixed inputs, then the LoRAs' second halves.
        let mut first = vec![
            (&att.receptance, xr.view()),
            (&att.key, xk.view()),
            (&att.value, xv.view()),
            (&att.w1, xw.view()),
            (&att.a1, xa.view()),
            (&att.g1, xg.view()),
        ];
        if let Some((_, v1, _)) = &att.v_residual {
            first.push((v1, xv.view()));
        }
        let mut p = forward_many(&first, obs).into_iter();
        let (r, mut k, mut v) = (p.next().expect("r"), p.next().expect("k"), p.next().expect("v"));
        let (w_mid, a_mid) = (ops::map(p.next().expect("w1"), f32::tanh), p.next().expect("a1"));
        let g_mid = ops::map(p.next().expect("g1"), sigmoid);
        let v_mid = p.next();
        let mut second = vec![(&att.w2, w_mid.view()), (&att.a2, a_mid.view()), (&att.g2, g_mid.view())];
        if let (Some((_, _, v2)), Some(vm)) = (&att.v_residual, &v_mid) {
            second.push((v2, vm.view()));
        }
        let mut q = forward_many(&second, obs).into_iter();
        let (wl, a_lin, g) = (q.next().expect("w2"), q.next().expect("a2"), q.next().expect("g2"));
        let v_gate_lin = q.next();
        let a = ops::map(ops::add_row(a_lin, &att.a0), sigmoid);

        // kk = normalize(k ⊙ k_k) per head, from k before the in-context rescale.
        let mut kk = k.clone();
        for mut row in kk.outer_iter_mut() {
            let row = row.as_slice_mut().expect("contiguous");
            for (x, &m) in row.iter_mut().zip(&att.k_k) {
                *x *= m;
            }
            for head in row.chunks_mut(n) {
                let norm = head.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                head.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Zip::from(&mut k)
            .and(&a)
            .and_broadcast(&ndarray::aview1(&att.k_a))
            .for_each(|k, &a, &ka| *k *= 1.0 + (a - 1.0) * ka);
        match &att.v_residual {
            None => *v_first = v.clone(),
            Some((v0, _, _)) => {
                let gate = ops::map(ops::add_row(v_gate_lin.expect("value-residual LoRA"), v0), sigmoid);
                Zip::from(&mut v).and(&*v_first).and(&gate).for_each(|v, &vf, &g| *v += (vf - *v) * g);
            }
        }
        let w = ops::map(ops::add_row(wl, &att.w0), |z| (-DECAY_SCALE * sigmoid(z)).exp());
        let neg_kk = kk.mapv(|x| -x);
        let kka = &kk * &a;

        let t_len = xx.nrows();
        let mut y = Array2::zeros((t_len, h * n));
        let sl = wkv::row_major;
        let (rs, ws, ks, vs, as_, bs) = (sl(&r), sl(&w), sl(&k), sl(&v), sl(&neg_kk), sl(&kka));
        // The recurrence, sequence by sequence (rows `span` of every input), each from its state.
        let mut ys = y.as_slice_mut().expect("standard layout");
        for (span, s) in spans.iter().zip(states.iter_mut()) {
            let rows = span.start * h * n..span.end * h * n;
            let (r, w, k) = (&rs[rows.clone()], &ws[rows.clone()], &ks[rows.clone()]);
            let (v, a, b) = (&vs[rows.clone()], &as_[rows.clone()], &bs[rows.clone()]);
            let (y_span, rest) = std::mem::take(&mut ys).split_at_mut(rows.len());
            ys = rest;
            match self.kernel {
                Kernel::Plain => wkv::v7::plain(n, r, w, k, v, a, b, s, y_span),
                Kernel::Fast => wkv::v7::fast(n, r, w, k, v, a, b, s, y_span),
            }
        }
        ops::group_norm(y.view_mut(), h, &att.ln_x.0, &att.ln_x.1, ops::GN_EPS);
        // Bonus: per head (Σ_j r_j k_j r_k[j]) · v.
        for t in 0..t_len {
            for hh in 0..h {
                let range = hh * n..(hh + 1) * n;
                let mut dot = 0f32;
                for j in range.clone() {
                    dot += r[[t, j]] * k[[t, j]] * att.r_k[j];
                }
                for j in range {
                    y[[t, j]] += dot * v[[t, j]];
                }
            }
        }
        y *= &g;
        att.output.forward(y.view(), obs)
    }
}

impl RwkvV7 {
    pub fn dim(&self) -> usize {
        self.emb.dim()
    }

    fn channel_mix(
        &self,
        ffn: &ChannelMixV7,
        xx: ArrayView2<f32>,
        prev: ArrayView2<f32>,
        tokens: &[u32],
        obs: Obs,
    ) -> Array2<f32> {
        let kx = ops::lerp(xx, prev, &ffn.x_k);
        let mut k = ops::map(ffn.key.forward(kx.view(), obs), ops::relu_sq);
        if let Some(de) = &ffn.deep_embed {
            // ss = (xx·s1)·T_tok, T_tok viewed [R, R]; then k ⊙= ss·s2 + s0.
            let xs1 = de.s1.forward(xx, obs);
            let r = de.rank;
            let mut ss = Array2::<f32>::zeros((tokens.len(), r));
            for (t, &tok) in tokens.iter().enumerate() {
                let table = self.deep_embed_table(de, tok);
                for q in 0..r {
                    ss[[t, q]] = (0..r).map(|p| xs1[[t, p]] * table[p * r + q]).sum();
                }
            }
            k *= &ops::add_row(de.s2.forward(ss.view(), obs), &de.s0);
        }
        ffn.value.forward(k.view(), obs)
    }

    /// `s_emb[tok] + ln0(emb[tok])·s_emb_xᵀ`: the package precomputes this for every token at load.
    fn deep_embed_table(&self, de: &DeepEmbedV7, tok: u32) -> Vec<f32> {
        let width = de.s_emb.shape[1];
        let mut table = de.s_emb.row_f32(tok as usize, width).expect("a row of the table");
        let mut e = Array2::zeros((1, self.emb.dim()));
        self.emb.row(tok, e.as_slice_mut().expect("contiguous"));
        for (x, y) in table.iter_mut().zip(de.s_emb_x.forward(e.view(), None).iter()) {
            *x += y;
        }
        table
    }
}

/// Token shift for stacked sequences: each span's rows shifted by one, its first row taken from
/// (and its last left in) slot `slot` of its own state.
fn shift_each(xx: ArrayView2<f32>, spans: &[std::ops::Range<usize>], states: &mut [State], slot: usize) -> Array2<f32> {
    if let [only] = spans {
        return ops::shift(xx.slice(ndarray::s![only.clone(), ..]), states[0].slot(slot));
    }
    let mut prev = Array2::zeros(xx.raw_dim());
    for (span, state) in spans.iter().zip(states.iter_mut()).filter(|(s, _)| !s.is_empty()) {
        let rows = ndarray::s![span.clone(), ..];
        prev.slice_mut(rows).assign(&ops::shift(xx.slice(rows), state.slot(slot)));
    }
    prev
}

impl crate::rwkv::Rwkv for RwkvV7 {
    fn new_state(&self) -> State {
        let c = self.emb.dim();
        let (h, n) = (self.n_head, self.head_size);
        let shapes: Vec<Vec<usize>> = (0..self.layers.len()).flat_map(|_| [vec![c], vec![h, n, n], vec![c]]).collect();
        State::zeros(&shapes)
    }
    /// Hidden states after `ln_out` for every token, [T, C]; the state moves past the tokens.
    fn forward(&self, tokens: &[u32], state: &mut State, obs: Obs) -> Array2<f32> {
        self.forward_batch(&[tokens], std::slice::from_mut(state), obs)
    }
    /// Several independent sequences, each from its own state: their tokens are stacked into one
    /// `[ΣT, C]` matrix, so every projection is one product over all of them (many short documents
    /// then run as long GEMMs); only the recurrences (token shift, WKV) go sequence by sequence.
    /// Returns the stacked hidden states, sequence after sequence.
    fn forward_batch(&self, seqs: &[&[u32]], states: &mut [State], obs: Obs) -> Array2<f32> {
        assert_eq!(seqs.len(), states.len(), "one state per sequence");
        let tokens: Vec<u32> = seqs.concat();
        let mut spans = Vec::with_capacity(seqs.len());
        for s in seqs {
            let start = spans.last().map_or(0, |r: &std::ops::Range<usize>| r.end);
            spans.push(start..start + s.len());
        }
        let mut x = self.emb.rows(&tokens);
        let mut v_first = Array2::zeros((0, 0));
        for (i, layer) in self.layers.iter().enumerate() {
            let xx = ops::layer_norm(x.view(), &layer.ln1.0, &layer.ln1.1);
            let prev = shift_each(xx.view(), &spans, states, 3 * i);
            let mut wkv: Vec<&mut [f32]> = states.iter_mut().map(|s| s.slot(3 * i + 1)).collect();
            let out = self.time_mix(&layer.att, xx.view(), prev.view(), &spans, &mut wkv, &mut v_first, obs);
            x += &out;
            let xx = ops::layer_norm(x.view(), &layer.ln2.0, &layer.ln2.1);
            let prev = shift_each(xx.view(), &spans, states, 3 * i + 2);
            x += &self.channel_mix(&layer.ffn, xx.view(), prev.view(), &tokens, obs);
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
