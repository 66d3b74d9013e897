//! RWKV-6 "Finch" (`RWKV-v5/src/model.py` `RWKV_Tmix_x060`, `RWKV_CMix_x060`): data-dependent
//! token shift and decay through two small LoRAs.

use super::{HParams, LayerSpec, Lookup, Presence};
use crate::error::{Error, Result};
use Presence::{Optional, Required};

pub fn infer(look: &Lookup, hp: &mut HParams) -> Result<()> {
    hp.dim_att = look.dim("blocks.0.att.key.weight", 2, 0, "attention width")?;
    hp.dim_ffn = look.dim("blocks.0.ffn.key.weight", 2, 0, "FFN width")?;
    hp.n_head = Some(look.dim("blocks.0.att.time_faaaa", 2, 0, "head count")?);
    hp.head_size = Some(look.dim("blocks.0.att.time_faaaa", 2, 1, "head size")?);
    let w1 = look.dim("blocks.0.att.time_maa_w1", 2, 1, "token-shift LoRA rank")?;
    if w1 % 5 != 0 {
        return Err(Error::not_rwkv(format!("second dimension {w1} is not 5 × the LoRA rank"))
            .tensor("blocks.0.att.time_maa_w1"));
    }
    hp.time_mix_extra_dim = Some(w1 / 5);
    hp.time_decay_extra_dim = Some(look.dim("blocks.0.att.time_decay_w1", 2, 1, "decay LoRA rank")?);
    hp.has_time_state = look.has("blocks.0.att.time_state");
    Ok(())
}

pub fn layer(hp: &HParams, _layer: usize) -> Vec<LayerSpec> {
    let (c, a, f) = (hp.n_embd, hp.dim_att, hp.dim_ffn);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let dm = hp.time_mix_extra_dim.unwrap_or(0);
    let dd = hp.time_decay_extra_dim.unwrap_or(0);
    vec![
        ("att.time_maa_x", vec![1, 1, c], Required),
        ("att.time_maa_w", vec![1, 1, c], Required),
        ("att.time_maa_k", vec![1, 1, c], Required),
        ("att.time_maa_v", vec![1, 1, c], Required),
        ("att.time_maa_r", vec![1, 1, c], Required),
        ("att.time_maa_g", vec![1, 1, c], Required),
        ("att.time_maa_w1", vec![c, 5 * dm], Required),
        ("att.time_maa_w2", vec![5, dm, c], Required),
        ("att.time_decay", vec![1, 1, a], Required),
        ("att.time_decay_w1", vec![c, dd], Required),
        ("att.time_decay_w2", vec![dd, a], Required),
        ("att.time_faaaa", vec![h, n], Required),
        ("att.time_state", vec![h, n, n], Optional),
        ("att.receptance.weight", vec![a, c], Required),
        ("att.key.weight", vec![a, c], Required),
        ("att.value.weight", vec![a, c], Required),
        ("att.output.weight", vec![c, a], Required),
        ("att.gate.weight", vec![a, c], Required),
        ("att.ln_x.weight", vec![a], Required),
        ("att.ln_x.bias", vec![a], Required),
        ("ffn.time_maa_k", vec![1, 1, c], Required),
        ("ffn.time_maa_r", vec![1, 1, c], Required),
        ("ffn.key.weight", vec![f, c], Required),
        ("ffn.receptance.weight", vec![c, c], Required),
        ("ffn.value.weight", vec![c, f], Required),
    ]
}

/// `rescale_every` of the RWKV org's HF RWKV-6 config, which llama.cpp's converter bakes into
/// `time_mix_output` and `channel_mix_value` (÷ 2^(layer / 6)) and records in the file.
pub const RESCALE_EVERY: usize = 6;

/// GGUF rows of one layer, as llama.cpp's `Rwkv6Model` converter makes them from the HF layout.
pub fn gguf_layer(hp: &HParams, i: usize) -> Vec<super::row::GgufRow> {
    use super::row::row;
    use super::transform::Transform::*;
    let (c, f) = (hp.n_embd, hp.dim_ffn);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let (dm, dd) = (hp.time_mix_extra_dim.unwrap_or(0), hp.time_decay_extra_dim.unwrap_or(0));
    let b = |n: &str| vec![format!("blocks.{i}.{n}")];
    let g = |n: &str| format!("blk.{i}.{n}");
    let rescale = Rescale((i / RESCALE_EVERY) as u32);
    let lerps: Vec<String> = ["w", "k", "v", "r", "g"].iter().map(|m| format!("blocks.{i}.att.time_maa_{m}")).collect();
    vec![
        row(g("time_mix_lerp_x.weight"), &b("att.time_maa_x"), vec![c], Copy, true),
        row(g("time_mix_lerp_fused.weight"), &lerps, vec![5, 1, 1, c], Stack, true),
        row(g("time_mix_w1.weight"), &b("att.time_maa_w1"), vec![5 * dm, c], Transpose, true),
        row(g("time_mix_w2.weight"), &b("att.time_maa_w2"), vec![5, c, dm], Permute021, true),
        row(g("time_mix_first.weight"), &b("att.time_faaaa"), vec![h, n], Copy, true),
        row(g("time_mix_decay.weight"), &b("att.time_decay"), vec![c], Copy, true),
        row(g("time_mix_decay_w1.weight"), &b("att.time_decay_w1"), vec![dd, c], Transpose, true),
        row(g("time_mix_decay_w2.weight"), &b("att.time_decay_w2"), vec![c, dd], Transpose, true),
        row(g("time_mix_key.weight"), &b("att.key.weight"), vec![c, c], Copy, false),
        row(g("time_mix_value.weight"), &b("att.value.weight"), vec![c, c], Copy, false),
        row(g("time_mix_receptance.weight"), &b("att.receptance.weight"), vec![c, c], Copy, false),
        row(g("time_mix_gate.weight"), &b("att.gate.weight"), vec![c, c], Copy, false),
        row(g("time_mix_ln.weight"), &b("att.ln_x.weight"), vec![c], Copy, true),
        row(g("time_mix_ln.bias"), &b("att.ln_x.bias"), vec![c], Copy, true),
        row(g("time_mix_output.weight"), &b("att.output.weight"), vec![c, c], rescale, false),
        row(g("channel_mix_lerp_k.weight"), &b("ffn.time_maa_k"), vec![c], Copy, true),
        row(g("channel_mix_lerp_r.weight"), &b("ffn.time_maa_r"), vec![c], Copy, true),
        row(g("channel_mix_key.weight"), &b("ffn.key.weight"), vec![f, c], Copy, false),
        row(g("channel_mix_receptance.weight"), &b("ffn.receptance.weight"), vec![c, c], Copy, false),
        row(g("channel_mix_value.weight"), &b("ffn.value.weight"), vec![c, f], rescale, false),
    ]
}
