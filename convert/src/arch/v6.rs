//! RWKV-6 "Finch" (`RWKV-v5/src/model.py` `RWKV_Tmix_x060`, `RWKV_CMix_x060`): data-dependent
//! token shift and decay through two small LoRAs.

use super::row::LayerRow;
use super::transform::Transform::{Copy, Permute021, Rescale, Stack, Transpose};
use super::{HParams, Lookup, Presence};
use crate::error::{Error, Result};
use Presence::Required;

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
    Ok(())
}

/// One layer's table. GGUF: as llama.cpp's `Rwkv6Model` converter makes it from the HF layout.
#[rustfmt::skip]
pub fn layer(hp: &HParams, i: usize) -> Vec<LayerRow> {
    let (c, a, f) = (hp.n_embd, hp.dim_att, hp.dim_ffn);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let (dm, dd) = (hp.time_mix_extra_dim.unwrap_or(0), hp.time_decay_extra_dim.unwrap_or(0));
    let rescale = Rescale((i / RESCALE_EVERY) as u32);
    let row = LayerRow::new;
    let lerp = |m: &'static str| {
        row(m, vec![1, 1, c], Required).gguf("time_mix_lerp_fused.weight", vec![5, 1, 1, c], Stack, true)
    };
    vec![
        row("att.time_maa_x", vec![1, 1, c], Required).gguf("time_mix_lerp_x.weight", vec![c], Copy, true),
        lerp("att.time_maa_w"),
        lerp("att.time_maa_k"),
        lerp("att.time_maa_v"),
        lerp("att.time_maa_r"),
        lerp("att.time_maa_g"),
        row("att.time_maa_w1", vec![c, 5 * dm], Required).gguf("time_mix_w1.weight", vec![5 * dm, c], Transpose, true),
        row("att.time_maa_w2", vec![5, dm, c], Required).gguf("time_mix_w2.weight", vec![5, c, dm], Permute021, true),
        row("att.time_decay", vec![1, 1, a], Required).gguf("time_mix_decay.weight", vec![c], Copy, true),
        row("att.time_decay_w1", vec![c, dd], Required).gguf("time_mix_decay_w1.weight", vec![dd, c], Transpose, true),
        row("att.time_decay_w2", vec![dd, a], Required).gguf("time_mix_decay_w2.weight", vec![c, dd], Transpose, true),
        row("att.time_faaaa", vec![h, n], Required).gguf("time_mix_first.weight", vec![h, n], Copy, true),
        row("att.receptance.weight", vec![a, c], Required).gguf("time_mix_receptance.weight", vec![c, c], Copy, false),
        row("att.key.weight", vec![a, c], Required).gguf("time_mix_key.weight", vec![c, c], Copy, false),
        row("att.value.weight", vec![a, c], Required).gguf("time_mix_value.weight", vec![c, c], Copy, false),
        row("att.output.weight", vec![c, a], Required).gguf("time_mix_output.weight", vec![c, c], rescale, false),
        row("att.gate.weight", vec![a, c], Required).gguf("time_mix_gate.weight", vec![c, c], Copy, false),
        row("att.ln_x.weight", vec![a], Required).gguf("time_mix_ln.weight", vec![c], Copy, true),
        row("att.ln_x.bias", vec![a], Required).gguf("time_mix_ln.bias", vec![c], Copy, true),
        row("ffn.time_maa_k", vec![1, 1, c], Required).gguf("channel_mix_lerp_k.weight", vec![c], Copy, true),
        row("ffn.time_maa_r", vec![1, 1, c], Required).gguf("channel_mix_lerp_r.weight", vec![c], Copy, true),
        row("ffn.key.weight", vec![f, c], Required).gguf("channel_mix_key.weight", vec![f, c], Copy, false),
        row("ffn.receptance.weight", vec![c, c], Required).gguf("channel_mix_receptance.weight", vec![c, c], Copy, false),
        row("ffn.value.weight", vec![c, f], Required).gguf("channel_mix_value.weight", vec![c, f], rescale, false),
    ]
}

/// `rescale_every` of the RWKV org's HF RWKV-6 config, which llama.cpp's converter bakes into
/// `time_mix_output` and `channel_mix_value` (÷ 2^(layer / 6)) and records in the file.
pub const RESCALE_EVERY: usize = 6;
