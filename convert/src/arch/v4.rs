//! RWKV-4 (BlinkDL/RWKV-LM `RWKV-v4neo/src/model.py`): per-channel decay, sigmoid receptance.

use super::{HParams, LayerSpec, Lookup, Presence::Required};
use crate::error::Result;

pub fn infer(look: &Lookup, hp: &mut HParams) -> Result<()> {
    hp.dim_att = look.dim("blocks.0.att.key.weight", 2, 0, "attention width")?;
    hp.dim_ffn = look.dim("blocks.0.ffn.key.weight", 2, 0, "FFN width")?;
    Ok(())
}

pub fn layer(hp: &HParams, _layer: usize) -> Vec<LayerSpec> {
    let (c, a, f) = (hp.n_embd, hp.dim_att, hp.dim_ffn);
    vec![
        ("att.time_decay", vec![a], Required),
        ("att.time_first", vec![a], Required),
        ("att.time_mix_k", vec![1, 1, c], Required),
        ("att.time_mix_v", vec![1, 1, c], Required),
        ("att.time_mix_r", vec![1, 1, c], Required),
        ("att.key.weight", vec![a, c], Required),
        ("att.value.weight", vec![a, c], Required),
        ("att.receptance.weight", vec![a, c], Required),
        ("att.output.weight", vec![c, a], Required),
        ("ffn.time_mix_k", vec![1, 1, c], Required),
        ("ffn.time_mix_r", vec![1, 1, c], Required),
        ("ffn.key.weight", vec![f, c], Required),
        ("ffn.receptance.weight", vec![c, c], Required),
        ("ffn.value.weight", vec![c, f], Required),
    ]
}

/// GGUF rows of one layer in our own `rwkv4` layout (llama.cpp has none; docs/gguf-rwkv4-rwkv5.md).
/// Values are stored as in the checkpoint: `time_mix_decay` is the raw `time_decay` (the decay is
/// `exp(−exp(·))`), `time_mix_lerp_*` hold RWKV-4's `time_mix_*` (the weight of the current token).
pub fn gguf_layer(hp: &HParams, i: usize) -> Vec<super::row::GgufRow> {
    use super::row::row;
    use super::transform::Transform::*;
    let (c, a) = (hp.n_embd, hp.dim_att);
    let b = |n: &str| vec![format!("blocks.{i}.{n}")];
    let g = |n: &str| format!("blk.{i}.{n}");
    let mut rows = vec![
        row(g("time_mix_lerp_k.weight"), &b("att.time_mix_k"), vec![c], Copy, true),
        row(g("time_mix_lerp_v.weight"), &b("att.time_mix_v"), vec![c], Copy, true),
        row(g("time_mix_lerp_r.weight"), &b("att.time_mix_r"), vec![c], Copy, true),
        row(g("time_mix_decay.weight"), &b("att.time_decay"), vec![a], Copy, true),
        row(g("time_mix_first.weight"), &b("att.time_first"), vec![a], Copy, true),
        row(g("time_mix_key.weight"), &b("att.key.weight"), vec![a, c], Copy, false),
        row(g("time_mix_value.weight"), &b("att.value.weight"), vec![a, c], Copy, false),
        row(g("time_mix_receptance.weight"), &b("att.receptance.weight"), vec![a, c], Copy, false),
        row(g("time_mix_output.weight"), &b("att.output.weight"), vec![c, a], Copy, false),
    ];
    rows.extend(channel_mix_gguf(hp, i));
    rows
}

/// The RWKV-4/5 channel-mix rows (shared: RWKV-5 keeps RWKV-4's channel-mix).
pub(crate) fn channel_mix_gguf(hp: &HParams, i: usize) -> Vec<super::row::GgufRow> {
    use super::row::row;
    use super::transform::Transform::*;
    let (c, f) = (hp.n_embd, hp.dim_ffn);
    let b = |n: &str| vec![format!("blocks.{i}.{n}")];
    let g = |n: &str| format!("blk.{i}.{n}");
    vec![
        row(g("channel_mix_lerp_k.weight"), &b("ffn.time_mix_k"), vec![c], Copy, true),
        row(g("channel_mix_lerp_r.weight"), &b("ffn.time_mix_r"), vec![c], Copy, true),
        row(g("channel_mix_key.weight"), &b("ffn.key.weight"), vec![f, c], Copy, false),
        row(g("channel_mix_receptance.weight"), &b("ffn.receptance.weight"), vec![c, c], Copy, false),
        row(g("channel_mix_value.weight"), &b("ffn.value.weight"), vec![c, f], Copy, false),
    ]
}
