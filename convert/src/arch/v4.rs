//! RWKV-4 (BlinkDL/RWKV-LM `RWKV-v4neo/src/model.py`): per-channel decay, sigmoid receptance.

use super::row::LayerRow;
use super::transform::Transform::Copy;
use super::{HParams, Lookup, Presence::Required};
use crate::error::Result;

pub fn infer(look: &Lookup, hp: &mut HParams) -> Result<()> {
    hp.dim_att = look.dim("blocks.0.att.key.weight", 2, 0, "attention width")?;
    hp.dim_ffn = look.dim("blocks.0.ffn.key.weight", 2, 0, "FFN width")?;
    Ok(())
}

/// One layer's table. GGUF: our own `rwkv4` layout (llama.cpp has none; docs/gguf-rwkv4-rwkv5.md),
/// values as in the checkpoint: `time_mix_decay` is the raw `time_decay` (the decay is
/// `exp(−exp(·))`), `time_mix_lerp_*` hold RWKV-4's `time_mix_*` (the weight of the current token).
#[rustfmt::skip]
pub fn layer(hp: &HParams, _layer: usize) -> Vec<LayerRow> {
    let (c, a) = (hp.n_embd, hp.dim_att);
    let row = LayerRow::new;
    let mut rows = vec![
        row("att.time_decay", vec![a], Required).gguf("time_mix_decay.weight", vec![a], Copy, true),
        row("att.time_first", vec![a], Required).gguf("time_mix_first.weight", vec![a], Copy, true),
        row("att.time_mix_k", vec![1, 1, c], Required).gguf("time_mix_lerp_k.weight", vec![c], Copy, true),
        row("att.time_mix_v", vec![1, 1, c], Required).gguf("time_mix_lerp_v.weight", vec![c], Copy, true),
        row("att.time_mix_r", vec![1, 1, c], Required).gguf("time_mix_lerp_r.weight", vec![c], Copy, true),
        row("att.key.weight", vec![a, c], Required).gguf("time_mix_key.weight", vec![a, c], Copy, false),
        row("att.value.weight", vec![a, c], Required).gguf("time_mix_value.weight", vec![a, c], Copy, false),
        row("att.receptance.weight", vec![a, c], Required).gguf("time_mix_receptance.weight", vec![a, c], Copy, false),
        row("att.output.weight", vec![c, a], Required).gguf("time_mix_output.weight", vec![c, a], Copy, false),
    ];
    rows.extend(channel_mix(hp));
    rows
}

/// The RWKV-4/5 channel-mix rows (RWKV-5 keeps RWKV-4's channel-mix).
#[rustfmt::skip]
pub(crate) fn channel_mix(hp: &HParams) -> Vec<LayerRow> {
    let (c, f) = (hp.n_embd, hp.dim_ffn);
    let row = LayerRow::new;
    vec![
        row("ffn.time_mix_k", vec![1, 1, c], Required).gguf("channel_mix_lerp_k.weight", vec![c], Copy, true),
        row("ffn.time_mix_r", vec![1, 1, c], Required).gguf("channel_mix_lerp_r.weight", vec![c], Copy, true),
        row("ffn.key.weight", vec![f, c], Required).gguf("channel_mix_key.weight", vec![f, c], Copy, false),
        row("ffn.receptance.weight", vec![c, c], Required).gguf("channel_mix_receptance.weight", vec![c, c], Copy, false),
        row("ffn.value.weight", vec![c, f], Required).gguf("channel_mix_value.weight", vec![c, f], Copy, false),
    ]
}
