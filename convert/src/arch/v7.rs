//! RWKV-7 "Goose", x070 (`RWKV-v7/train_temp/src/model.py`), and its DeepEmbed variant
//! (`RWKV-v7/rwkv_v7a_demo.py`): a generalised delta rule with four LoRAs.

use super::{DeepEmbed, HParams, LayerSpec, Lookup, Presence};
use crate::error::Result;
use Presence::{Ignored, Required};

pub fn infer(look: &Lookup, hp: &mut HParams) -> Result<()> {
    hp.n_head = Some(look.dim("blocks.0.att.r_k", 2, 0, "head count")?);
    hp.head_size = Some(look.dim("blocks.0.att.r_k", 2, 1, "head size")?);
    hp.dim_att = look.dim("blocks.0.att.key.weight", 2, 0, "attention width")?;
    hp.dim_ffn = look.dim("blocks.0.ffn.key.weight", 2, 0, "FFN width")?;
    hp.decay_lora = Some(look.dim("blocks.0.att.w1", 2, 1, "decay LoRA rank")?);
    hp.a_lora = Some(look.dim("blocks.0.att.a1", 2, 1, "in-context learning rate LoRA rank")?);
    hp.gate_lora = Some(look.dim("blocks.0.att.g1", 2, 1, "gate LoRA rank")?);
    // Released files drop layer 0's value-residual LoRA (it is never used); read it from layer 1.
    let v1 = if look.has("blocks.1.att.v1") { "blocks.1.att.v1" } else { "blocks.0.att.v1" };
    if hp.n_layer > 1 || look.has(v1) {
        hp.v_lora = Some(look.dim(v1, 2, 1, "value-residual LoRA rank")?);
    }
    if look.has("blocks.0.ffn.s_emb.weight") {
        hp.deep_embed = Some(DeepEmbed {
            table_dim: look.dim("blocks.0.ffn.s_emb.weight", 2, 1, "DeepEmbed table width")?,
            rank: look.dim("blocks.0.ffn.s1", 2, 1, "DeepEmbed rank")?,
        });
    }
    Ok(())
}

pub fn layer(hp: &HParams, layer: usize) -> Vec<LayerSpec> {
    let (c, a, f, v) = (hp.n_embd, hp.dim_att, hp.dim_ffn, hp.vocab_size);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let (dw, da, dg) = (hp.decay_lora.unwrap_or(0), hp.a_lora.unwrap_or(0), hp.gate_lora.unwrap_or(0));
    let dv = hp.v_lora.unwrap_or(0);
    let value_residual = if layer == 0 { Ignored } else { Required };
    let mut rows = vec![
        ("att.x_r", vec![1, 1, c], Required),
        ("att.x_w", vec![1, 1, c], Required),
        ("att.x_k", vec![1, 1, c], Required),
        ("att.x_v", vec![1, 1, c], Required),
        ("att.x_a", vec![1, 1, c], Required),
        ("att.x_g", vec![1, 1, c], Required),
        ("att.w0", vec![1, 1, a], Required),
        ("att.w1", vec![c, dw], Required),
        ("att.w2", vec![dw, a], Required),
        ("att.a0", vec![1, 1, a], Required),
        ("att.a1", vec![c, da], Required),
        ("att.a2", vec![da, a], Required),
        ("att.v0", vec![1, 1, a], value_residual),
        ("att.v1", vec![c, dv], value_residual),
        ("att.v2", vec![dv, a], value_residual),
        ("att.g1", vec![c, dg], Required),
        ("att.g2", vec![dg, a], Required),
        ("att.k_k", vec![1, 1, a], Required),
        ("att.k_a", vec![1, 1, a], Required),
        ("att.r_k", vec![h, n], Required),
        ("att.receptance.weight", vec![a, c], Required),
        ("att.key.weight", vec![a, c], Required),
        ("att.value.weight", vec![a, c], Required),
        ("att.output.weight", vec![c, a], Required),
        ("att.ln_x.weight", vec![a], Required),
        ("att.ln_x.bias", vec![a], Required),
        ("ffn.x_k", vec![1, 1, c], Required),
        ("ffn.key.weight", vec![f, c], Required),
        ("ffn.value.weight", vec![c, f], Required),
    ];
    if let Some(de) = hp.deep_embed {
        rows.extend([
            ("ffn.s_emb.weight", vec![v, de.table_dim], Required),
            ("ffn.s_emb_x.weight", vec![de.table_dim, c], Required),
            ("ffn.s1", vec![c, de.rank], Required),
            ("ffn.s2", vec![de.rank, f], Required),
            ("ffn.s0", vec![f], Required),
        ]);
    }
    rows
}
