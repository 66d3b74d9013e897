//! RWKV-5 "Eagle": 5.0/5.1 previews (`RWKV-v4neo/src/model.py`, per-head decay) and 5.2
//! (`RWKV-v5/src/model.py` `RWKV_Tmix_x052`, per-channel decay, `time_faaaa` bonus, gate).

use super::{HParams, LayerSpec, Lookup, Presence::Required, Version};
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

pub fn layer(version: Version, hp: &HParams, _layer: usize) -> Vec<LayerSpec> {
    let (c, a, f) = (hp.n_embd, hp.dim_att, hp.dim_ffn);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let mut rows = vec![
        ("att.time_mix_k", vec![1, 1, c], Required),
        ("att.time_mix_v", vec![1, 1, c], Required),
        ("att.time_mix_r", vec![1, 1, c], Required),
    ];
    if version == Version::V5_2 {
        rows.push(("att.time_decay", vec![h, n], Required));
        rows.push(("att.time_faaaa", vec![h, n], Required));
    } else {
        rows.push(("att.time_decay", vec![h], Required));
        rows.push((if hp.bonus_is_faaaa { "att.time_faaaa" } else { "att.time_first" }, vec![h], Required));
    }
    if version != Version::V5_0 {
        rows.push(("att.time_mix_g", vec![1, 1, c], Required));
        rows.push(("att.gate.weight", vec![a, c], Required));
    }
    rows.extend([
        ("att.receptance.weight", vec![a, c], Required),
        ("att.key.weight", vec![a, c], Required),
        ("att.value.weight", vec![a, c], Required),
        ("att.output.weight", vec![c, a], Required),
        ("att.ln_x.weight", vec![a], Required),
        ("att.ln_x.bias", vec![a], Required),
        ("ffn.time_mix_k", vec![1, 1, c], Required),
        ("ffn.time_mix_r", vec![1, 1, c], Required),
        ("ffn.key.weight", vec![f, c], Required),
        ("ffn.receptance.weight", vec![c, c], Required),
        ("ffn.value.weight", vec![c, f], Required),
    ]);
    rows
}

/// GGUF rows of one layer in our own `rwkv5` layout (llama.cpp has none; docs/gguf-rwkv4-rwkv5.md).
/// Values are stored as in the checkpoint; `time_mix_lerp_*` hold RWKV-5's `time_mix_*` (the weight
/// of the current token).
pub fn gguf_layer(version: Version, hp: &HParams, i: usize) -> Vec<super::row::GgufRow> {
    use super::row::row;
    use super::transform::Transform::*;
    let (c, a) = (hp.n_embd, hp.dim_att);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let b = |n: &str| vec![format!("blocks.{i}.{n}")];
    let g = |n: &str| format!("blk.{i}.{n}");
    let per_head = if version == Version::V5_2 { vec![h, n] } else { vec![h] };
    let bonus = if version == Version::V5_2 || hp.bonus_is_faaaa { "att.time_faaaa" } else { "att.time_first" };
    let mut rows = vec![
        row(g("time_mix_lerp_k.weight"), &b("att.time_mix_k"), vec![c], Copy, true),
        row(g("time_mix_lerp_v.weight"), &b("att.time_mix_v"), vec![c], Copy, true),
        row(g("time_mix_lerp_r.weight"), &b("att.time_mix_r"), vec![c], Copy, true),
    ];
    if version != Version::V5_0 {
        rows.push(row(g("time_mix_lerp_g.weight"), &b("att.time_mix_g"), vec![c], Copy, true));
        rows.push(row(g("time_mix_gate.weight"), &b("att.gate.weight"), vec![a, c], Copy, false));
    }
    rows.extend([
        row(g("time_mix_decay.weight"), &b("att.time_decay"), per_head.clone(), Copy, true),
        row(g("time_mix_first.weight"), &b(bonus), per_head, Copy, true),
        row(g("time_mix_receptance.weight"), &b("att.receptance.weight"), vec![a, c], Copy, false),
        row(g("time_mix_key.weight"), &b("att.key.weight"), vec![a, c], Copy, false),
        row(g("time_mix_value.weight"), &b("att.value.weight"), vec![a, c], Copy, false),
        row(g("time_mix_output.weight"), &b("att.output.weight"), vec![c, a], Copy, false),
        row(g("time_mix_ln.weight"), &b("att.ln_x.weight"), vec![a], Copy, true),
        row(g("time_mix_ln.bias"), &b("att.ln_x.bias"), vec![a], Copy, true),
    ]);
    rows.extend(super::v4::channel_mix_gguf(hp, i));
    rows
}
