//! RWKV-5 "Eagle": 5.0/5.1 previews (`RWKV-v4neo/src/model.py`, per-head decay) and 5.2
//! (`RWKV-v5/src/model.py` `RWKV_Tmix_x052`, per-channel decay, `time_faaaa` bonus, gate).

use super::row::LayerRow;
use super::transform::Transform::Copy;
use super::{HParams, Lookup, Presence::Required, Version};
use crate::error::{Error, Result};

pub fn infer(version: Version, look: &Lookup, hp: &mut HParams) -> Result<()> {
    hp.dim_att = look.dim("blocks.0.att.key.weight", 2, 0, "attention width")?;
    hp.dim_ffn = look.dim("blocks.0.ffn.key.weight", 2, 0, "FFN width")?;
    let (n_head, head_size) = if version == Version::V5_2 {
        let h = look.dim("blocks.0.att.time_decay", 2, 0, "head count")?;
        (h, look.dim("blocks.0.att.time_decay", 2, 1, "head size")?)
    } else {
        hp.bonus_is_faaaa = look.has("blocks.0.att.time_faaaa");
        let h = look.dim("blocks.0.att.time_decay", 1, 0, "head count")?;
        if hp.dim_att % h != 0 {
            return Err(Error::not_rwkv(format!("attention width {} is not a multiple of {h} heads", hp.dim_att))
                .tensor("blocks.0.att.time_decay"));
        }
        (h, hp.dim_att / h)
    };
    hp.n_head = Some(n_head);
    hp.head_size = Some(head_size);
    Ok(())
}

/// One layer's table. GGUF: our own `rwkv5` layout (llama.cpp has none; docs/gguf-rwkv4-rwkv5.md),
/// values as in the checkpoint; `time_mix_lerp_*` hold RWKV-5's `time_mix_*` (the weight of the
/// current token).
#[rustfmt::skip]
pub fn layer(version: Version, hp: &HParams, _layer: usize) -> Vec<LayerRow> {
    let (c, a) = (hp.n_embd, hp.dim_att);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let row = LayerRow::new;
    let per_head = if version == Version::V5_2 { vec![h, n] } else { vec![h] };
    let bonus = if version == Version::V5_2 || hp.bonus_is_faaaa { "att.time_faaaa" } else { "att.time_first" };
    let mut rows = vec![
        row("att.time_mix_k", vec![1, 1, c], Required).gguf("time_mix_lerp_k.weight", vec![c], Copy, true),
        row("att.time_mix_v", vec![1, 1, c], Required).gguf("time_mix_lerp_v.weight", vec![c], Copy, true),
        row("att.time_mix_r", vec![1, 1, c], Required).gguf("time_mix_lerp_r.weight", vec![c], Copy, true),
        row("att.time_decay", per_head.clone(), Required).gguf("time_mix_decay.weight", per_head.clone(), Copy, true),
        row(bonus, per_head.clone(), Required).gguf("time_mix_first.weight", per_head, Copy, true),
    ];
    if version != Version::V5_0 {
        rows.push(row("att.time_mix_g", vec![1, 1, c], Required).gguf("time_mix_lerp_g.weight", vec![c], Copy, true));
        rows.push(row("att.gate.weight", vec![a, c], Required).gguf("time_mix_gate.weight", vec![a, c], Copy, false));
    }
    rows.extend([
        row("att.receptance.weight", vec![a, c], Required).gguf("time_mix_receptance.weight", vec![a, c], Copy, false),
        row("att.key.weight", vec![a, c], Required).gguf("time_mix_key.weight", vec![a, c], Copy, false),
        row("att.value.weight", vec![a, c], Required).gguf("time_mix_value.weight", vec![a, c], Copy, false),
        row("att.output.weight", vec![c, a], Required).gguf("time_mix_output.weight", vec![c, a], Copy, false),
        row("att.ln_x.weight", vec![a], Required).gguf("time_mix_ln.weight", vec![a], Copy, true),
        row("att.ln_x.bias", vec![a], Required).gguf("time_mix_ln.bias", vec![a], Copy, true),
    ]);
    rows.extend(super::v4::channel_mix(hp));
    rows
}
