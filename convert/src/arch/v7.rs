//! RWKV-7 "Goose", x070 (`RWKV-v7/train_temp/src/model.py`), and its DeepEmbed variant
//! (`RWKV-v7/rwkv_v7a_demo.py`): a generalised delta rule with four LoRAs. Everything about a v7
//! tensor is in its row of `layer`: BlinkDL name, shape and presence, the GGUF tensor it goes into
//! (llama.cpp's `Rwkv7Model` converter), and its fla name (`RWKV7ForCausalLM`).

use super::row::{
    HfName, LayerRow,
    Written::{self, Reversed, Same, Squeezed},
};
use super::transform::Transform::{self, Copy, Stack, Transpose};
use super::{DeepEmbed, HParams, Lookup, Presence};
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

/// One layer's table. GGUF: as llama.cpp's `Rwkv7Model` converter makes it from fla's layout.
pub fn layer(hp: &HParams, i: usize) -> Vec<LayerRow> {
    let (c, a, f, v) = (hp.n_embd, hp.dim_att, hp.dim_ffn, hp.vocab_size);
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    let (dw, da, dg) = (hp.decay_lora.unwrap_or(0), hp.a_lora.unwrap_or(0), hp.gate_lora.unwrap_or(0));
    let row = LayerRow::new;
    let lerp = |m: &'static str| {
        row(m, vec![1, 1, c], Required).gguf("time_mix_lerp_fused.weight", vec![6, 1, 1, c], Stack, true)
    };
    // Layer 0 has no value residual (releases drop its v0/v1/v2); llama.cpp's loader still wants
    // them there, shaped like a0/a1/a2, and its converter writes copies of those.
    let (vr, dv, gv) = match (i, hp.v_lora.unwrap_or(0)) {
        (0, dv) => (Ignored, dv, da),
        (_, dv) => (Required, dv, dv),
    };
    let v_from = |r: LayerRow, a: &'static str| if i == 0 { r.from(a) } else { r };
    #[rustfmt::skip]
    let mut rows = vec![
        lerp("att.x_r").hf("attn.x_r", Copy, Same),
        lerp("att.x_w").hf("attn.x_w", Copy, Same),
        lerp("att.x_k").hf("attn.x_k", Copy, Same),
        lerp("att.x_v").hf("attn.x_v", Copy, Same),
        lerp("att.x_a").hf("attn.x_a", Copy, Same),
        lerp("att.x_g").hf("attn.x_g", Copy, Same),
        row("att.w0", vec![1, 1, a], Required).gguf("time_mix_w0.weight", vec![c], Copy, true).hf("attn.w_lora.lora.2.bias", Copy, Squeezed),
        row("att.w1", vec![c, dw], Required).gguf("time_mix_w1.weight", vec![dw, c], Transpose, true).hf("attn.w_lora.lora.0.weight", Transpose, Reversed),
        row("att.w2", vec![dw, a], Required).gguf("time_mix_w2.weight", vec![c, dw], Transpose, true).hf("attn.w_lora.lora.2.weight", Transpose, Reversed),
        row("att.a0", vec![1, 1, a], Required).gguf("time_mix_a0.weight", vec![c], Copy, true).hf("attn.a_lora.lora.2.bias", Copy, Squeezed),
        row("att.a1", vec![c, da], Required).gguf("time_mix_a1.weight", vec![da, c], Transpose, false).hf("attn.a_lora.lora.0.weight", Transpose, Reversed),
        row("att.a2", vec![da, a], Required).gguf("time_mix_a2.weight", vec![c, da], Transpose, false).hf("attn.a_lora.lora.2.weight", Transpose, Reversed),
        v_from(row("att.v0", vec![1, 1, a], vr).gguf("time_mix_v0.weight", vec![c], Copy, true).hf("attn.v_lora.lora.2.bias", Copy, Squeezed), "att.a0"),
        v_from(row("att.v1", vec![c, dv], vr).gguf("time_mix_v1.weight", vec![gv, c], Transpose, false).hf("attn.v_lora.lora.0.weight", Transpose, Reversed), "att.a1"),
        v_from(row("att.v2", vec![dv, a], vr).gguf("time_mix_v2.weight", vec![c, gv], Transpose, false).hf("attn.v_lora.lora.2.weight", Transpose, Reversed), "att.a2"),
        row("att.g1", vec![c, dg], Required).gguf("time_mix_g1.weight", vec![dg, c], Transpose, false).hf("attn.g_lora.lora.0.weight", Transpose, Reversed),
        row("att.g2", vec![dg, a], Required).gguf("time_mix_g2.weight", vec![c, dg], Transpose, false).hf("attn.g_lora.lora.2.weight", Transpose, Reversed),
        row("att.k_k", vec![1, 1, a], Required).gguf("time_mix_k_k.weight", vec![c], Copy, true).hf("attn.k_k", Copy, Squeezed),
        row("att.k_a", vec![1, 1, a], Required).gguf("time_mix_k_a.weight", vec![c], Copy, true).hf("attn.k_a", Copy, Squeezed),
        row("att.r_k", vec![h, n], Required).gguf("time_mix_r_k.weight", vec![c], Copy, true).hf("attn.r_k", Copy, Same),
        row("att.receptance.weight", vec![a, c], Required).gguf("time_mix_receptance.weight", vec![c, c], Copy, false).hf("attn.r_proj.weight", Copy, Same),
        row("att.key.weight", vec![a, c], Required).gguf("time_mix_key.weight", vec![c, c], Copy, false).hf("attn.k_proj.weight", Copy, Same),
        row("att.value.weight", vec![a, c], Required).gguf("time_mix_value.weight", vec![c, c], Copy, false).hf("attn.v_proj.weight", Copy, Same),
        row("att.output.weight", vec![c, a], Required).gguf("time_mix_output.weight", vec![c, c], Copy, false).hf("attn.o_proj.weight", Copy, Same),
        row("att.ln_x.weight", vec![a], Required).gguf("time_mix_ln.weight", vec![c], Copy, true).hf("attn.g_norm.weight", Copy, Same),
        row("att.ln_x.bias", vec![a], Required).gguf("time_mix_ln.bias", vec![c], Copy, true).hf("attn.g_norm.bias", Copy, Same),
        row("ffn.x_k", vec![1, 1, c], Required).gguf("channel_mix_lerp_k.weight", vec![c], Copy, true).hf("ffn.x_k", Copy, Squeezed),
        row("ffn.key.weight", vec![f, c], Required).gguf("channel_mix_key.weight", vec![f, c], Copy, false).hf("ffn.key.weight", Copy, Same),
        row("ffn.value.weight", vec![c, f], Required).gguf("channel_mix_value.weight", vec![c, f], Copy, false).hf("ffn.value.weight", Copy, Same),
    ];
    // DeepEmbed: no GGUF layout (llama.cpp has no per-token FFN tables; the writer refuses it).
    if let Some(de) = hp.deep_embed {
        rows.extend([
            row("ffn.s_emb.weight", vec![v, de.table_dim], Required),
            row("ffn.s_emb_x.weight", vec![de.table_dim, c], Required),
            row("ffn.s1", vec![c, de.rank], Required),
            row("ffn.s2", vec![de.rank, f], Required),
            row("ffn.s0", vec![f], Required),
        ]);
    }
    rows
}

/// fla's names (`utils/convert_from_rwkv7.py`, layout since 2025-04) of the layer norms every
/// version's table shares (BlinkDL's under `blocks.N.`, fla's under `model.layers.N.`).
const FLA_NORMS: [HfName; 6] = [
    ("ln0.weight", "pre_norm.weight", Copy, Same),
    ("ln0.bias", "pre_norm.bias", Copy, Same),
    ("ln1.weight", "attn_norm.weight", Copy, Same),
    ("ln1.bias", "attn_norm.bias", Copy, Same),
    ("ln2.weight", "ffn_norm.weight", Copy, Same),
    ("ln2.bias", "ffn_norm.bias", Copy, Same),
];

/// fla's names of a layer's tensors, from the table (the names do not depend on the
/// hyper-parameters; layer 1's rows, as layer 0 lacks the value residual) and the norms; made
/// once (the HF reader maps every tensor name through them).
pub(super) fn fla_layer_names() -> &'static [HfName] {
    static NAMES: std::sync::OnceLock<Vec<HfName>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let rows = layer(&HParams::default(), 1).into_iter();
        FLA_NORMS.into_iter().chain(rows.filter_map(|r| r.hf.map(|(hf, t, w)| (r.blink, hf, t, w)))).collect()
    })
}

/// fla's names of the tensors outside the layers.
pub(super) const FLA_GLOBAL: [HfName; 4] = [
    ("emb.weight", "model.embeddings.weight", Transform::Copy, Written::Same),
    ("head.weight", "lm_head.weight", Transform::Copy, Written::Same),
    ("ln_out.weight", "model.norm.weight", Transform::Copy, Written::Same),
    ("ln_out.bias", "model.norm.bias", Transform::Copy, Written::Same),
];
