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
