//! RWKV-7 "Goose", x070 (`RWKV-v7/train_temp/src/model.py`), and its DeepEmbed variant
//! (`RWKV-v7/rwkv_v7a_demo.py`): a generalised delta rule with four LoRAs. Everything about a v7
//! tensor is here: its BlinkDL name, shape and presence (`layer`), its fla name (`FLA_LAYER`) and its
//! GGUF row (`gguf_layer`).

use super::row::{HfName, Written};
use super::transform::Transform;
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

/// The HF column: fla's names (`utils/convert_from_rwkv7.py`, layout since 2025-04): BlinkDL's name under
/// `blocks.N.`, fla's under `model.layers.N.`, the transform, the written shape. Read left to
/// right to write, right to left to read back.
pub(super) const FLA_LAYER: [HfName; 35] = {
    use Transform::{Copy, Transpose};
    use Written::{Reversed, Same, Squeezed};
    [
        ("ln0.weight", "pre_norm.weight", Copy, Same),
        ("ln0.bias", "pre_norm.bias", Copy, Same),
        ("ln1.weight", "attn_norm.weight", Copy, Same),
        ("ln1.bias", "attn_norm.bias", Copy, Same),
        ("ln2.weight", "ffn_norm.weight", Copy, Same),
        ("ln2.bias", "ffn_norm.bias", Copy, Same),
        ("att.x_r", "attn.x_r", Copy, Same),
        ("att.x_w", "attn.x_w", Copy, Same),
        ("att.x_k", "attn.x_k", Copy, Same),
        ("att.x_v", "attn.x_v", Copy, Same),
        ("att.x_a", "attn.x_a", Copy, Same),
        ("att.x_g", "attn.x_g", Copy, Same),
        ("att.k_k", "attn.k_k", Copy, Squeezed),
        ("att.k_a", "attn.k_a", Copy, Squeezed),
        ("att.r_k", "attn.r_k", Copy, Same),
        ("att.w0", "attn.w_lora.lora.2.bias", Copy, Squeezed),
        ("att.w1", "attn.w_lora.lora.0.weight", Transpose, Reversed),
        ("att.w2", "attn.w_lora.lora.2.weight", Transpose, Reversed),
        ("att.a0", "attn.a_lora.lora.2.bias", Copy, Squeezed),
        ("att.a1", "attn.a_lora.lora.0.weight", Transpose, Reversed),
        ("att.a2", "attn.a_lora.lora.2.weight", Transpose, Reversed),
        // Layer 0 has no value residual (BlinkDL's table ignores it there; fla has no v_lora).
        ("att.v0", "attn.v_lora.lora.2.bias", Copy, Squeezed),
        ("att.v1", "attn.v_lora.lora.0.weight", Transpose, Reversed),
        ("att.v2", "attn.v_lora.lora.2.weight", Transpose, Reversed),
        ("att.g1", "attn.g_lora.lora.0.weight", Transpose, Reversed),
        ("att.g2", "attn.g_lora.lora.2.weight", Transpose, Reversed),
        ("att.receptance.weight", "attn.r_proj.weight", Copy, Same),
        ("att.key.weight", "attn.k_proj.weight", Copy, Same),
        ("att.value.weight", "attn.v_proj.weight", Copy, Same),
        ("att.output.weight", "attn.o_proj.weight", Copy, Same),
        ("att.ln_x.weight", "attn.g_norm.weight", Copy, Same),
        ("att.ln_x.bias", "attn.g_norm.bias", Copy, Same),
        ("ffn.x_k", "ffn.x_k", Copy, Squeezed),
        ("ffn.key.weight", "ffn.key.weight", Copy, Same),
        ("ffn.value.weight", "ffn.value.weight", Copy, Same),
    ]
};

/// fla's names of the tensors outside the layers.
pub(super) const FLA_GLOBAL: [HfName; 4] = [
    ("emb.weight", "model.embeddings.weight", Transform::Copy, Written::Same),
    ("head.weight", "lm_head.weight", Transform::Copy, Written::Same),
    ("ln_out.weight", "model.norm.weight", Transform::Copy, Written::Same),
    ("ln_out.bias", "model.norm.bias", Transform::Copy, Written::Same),
];

/// GGUF rows of one layer, as llama.cpp's `Rwkv7Model` converter makes them from fla's layout.
pub fn gguf_layer(hp: &HParams, i: usize) -> Vec<super::row::GgufRow> {
    use super::row::row;
    use super::transform::Transform::*;
    let (c, f) = (hp.n_embd, hp.dim_ffn);
    let (dw, da, dv, dg) =
        (hp.decay_lora.unwrap_or(0), hp.a_lora.unwrap_or(0), hp.v_lora.unwrap_or(0), hp.gate_lora.unwrap_or(0));
    let b = |n: &str| vec![format!("blocks.{i}.{n}")];
    let g = |n: &str| format!("blk.{i}.{n}");
    let lerps: Vec<String> =
        ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"].iter().map(|n| format!("blocks.{i}.att.{n}")).collect();
    let mut rows = vec![
        row(g("time_mix_lerp_fused.weight"), &lerps, vec![6, 1, 1, c], Stack, true),
        row(g("time_mix_w0.weight"), &b("att.w0"), vec![c], Copy, true),
        row(g("time_mix_w1.weight"), &b("att.w1"), vec![dw, c], Transpose, true),
        row(g("time_mix_w2.weight"), &b("att.w2"), vec![c, dw], Transpose, true),
    ];
    // Layer 0 has no value residual; llama.cpp's loader still wants v0/v1/v2 there, shaped like
    // a0/a1/a2, and its converter writes copies of them just before the a tensors.
    let (v_src, dv) = if i == 0 { ("att.a", da) } else { ("att.v", dv) };
    let a_rows = [
        (g("time_mix_a0.weight"), b("att.a0"), vec![c], Copy, true),
        (g("time_mix_a1.weight"), b("att.a1"), vec![da, c], Transpose, false),
        (g("time_mix_a2.weight"), b("att.a2"), vec![c, da], Transpose, false),
    ];
    let v_rows = [
        (g("time_mix_v0.weight"), b(&format!("{v_src}0")), vec![c], Copy, true),
        (g("time_mix_v1.weight"), b(&format!("{v_src}1")), vec![dv, c], Transpose, false),
        (g("time_mix_v2.weight"), b(&format!("{v_src}2")), vec![c, dv], Transpose, false),
    ];
    for (name, src, shape, t, f32) in a_rows.into_iter().chain(v_rows) {
        rows.push(row(name, &src, shape, t, f32));
    }
    rows.extend([
        row(g("time_mix_g1.weight"), &b("att.g1"), vec![dg, c], Transpose, false),
        row(g("time_mix_g2.weight"), &b("att.g2"), vec![c, dg], Transpose, false),
        row(g("time_mix_k_k.weight"), &b("att.k_k"), vec![c], Copy, true),
        row(g("time_mix_k_a.weight"), &b("att.k_a"), vec![c], Copy, true),
        row(g("time_mix_r_k.weight"), &b("att.r_k"), vec![c], Copy, true),
        row(g("time_mix_receptance.weight"), &b("att.receptance.weight"), vec![c, c], Copy, false),
        row(g("time_mix_key.weight"), &b("att.key.weight"), vec![c, c], Copy, false),
        row(g("time_mix_value.weight"), &b("att.value.weight"), vec![c, c], Copy, false),
        row(g("time_mix_output.weight"), &b("att.output.weight"), vec![c, c], Copy, false),
        row(g("time_mix_ln.weight"), &b("att.ln_x.weight"), vec![c], Copy, true),
        row(g("time_mix_ln.bias"), &b("att.ln_x.bias"), vec![c], Copy, true),
        row(g("channel_mix_lerp_k.weight"), &b("ffn.x_k"), vec![c], Copy, true),
        row(g("channel_mix_key.weight"), &b("ffn.key.weight"), vec![f, c], Copy, false),
        row(g("channel_mix_value.weight"), &b("ffn.value.weight"), vec![c, f], Copy, false),
    ]);
    rows
}
