//! The HF column of the architecture tables: transformers' `RwkvForCausalLM` (RWKV-4), the RWKV
//! organisation's `Rwkv5ForCausalLM`/`Rwkv6ForCausalLM` (RWKV-5.2/6) and flash-linear-attention's
//! `RWKV7ForCausalLM` (RWKV-7). Each row: HF name, BlinkDL source, transform, shape written.

use super::transform::Transform;
use super::{HParams, Version};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct HfRow {
    pub hf: String,
    pub source: String,
    pub transform: Transform,
    pub shape: Vec<usize>,
}

/// RWKV-4/5 mixing vectors: BlinkDL's short suffix and the HF name's long one.
const MIX_SUFFIXES: [(&str, &str); 4] = [
    ("time_mix_k", "time_mix_key"),
    ("time_mix_v", "time_mix_value"),
    ("time_mix_r", "time_mix_receptance"),
    ("time_mix_g", "time_mix_gate"),
];

/// RWKV-4/5/6: the official converters rename only (`rwkv.` prefix, `att`→`attention`,
/// `ffn`→`feed_forward`, `ln0`→`pre_ln`, `time_mix_k`→`time_mix_key`, …); shapes stay.
fn renamed(blink: &str) -> String {
    if blink == "head.weight" {
        return blink.to_string();
    }
    let mut s = blink
        .replace("emb.weight", "embeddings.weight")
        .replace(".att.", ".attention.")
        .replace(".ffn.", ".feed_forward.");
    s = s.replace("blocks.0.ln0.", "blocks.0.pre_ln.");
    for (short, long) in MIX_SUFFIXES {
        if let Some(stem) = s.strip_suffix(short) {
            s = format!("{stem}{long}");
        }
    }
    format!("rwkv.{s}")
}

/// fla's RWKV-7 names (`utils/convert_from_rwkv7.py`, layout since 2025-04).
fn fla_v7(blink: &str, shape: &[usize], hp: &HParams) -> Option<HfRow> {
    let c = hp.n_embd;
    let row = |hf: String, transform: Transform, shape: Vec<usize>| {
        Some(HfRow { hf, source: blink.to_string(), transform, shape })
    };
    match blink {
        "emb.weight" => return row("model.embeddings.weight".into(), Transform::Copy, shape.to_vec()),
        "head.weight" => return row("lm_head.weight".into(), Transform::Copy, shape.to_vec()),
        "ln_out.weight" => return row("model.norm.weight".into(), Transform::Copy, vec![c]),
        "ln_out.bias" => return row("model.norm.bias".into(), Transform::Copy, vec![c]),
        _ => {}
    }
    let rest = blink.strip_prefix("blocks.")?;
    let (layer, local) = rest.split_once('.')?;
    let p = format!("model.layers.{layer}");
    let t = |d: usize| vec![d, c];
    let (dw, da, dv, dg) = (hp.decay_lora?, hp.a_lora?, hp.v_lora.unwrap_or(0), hp.gate_lora?);
    let (name, transform, out): (String, Transform, Vec<usize>) = match local {
        "ln0.weight" => (format!("{p}.pre_norm.weight"), Transform::Copy, vec![c]),
        "ln0.bias" => (format!("{p}.pre_norm.bias"), Transform::Copy, vec![c]),
        "ln1.weight" => (format!("{p}.attn_norm.weight"), Transform::Copy, vec![c]),
        "ln1.bias" => (format!("{p}.attn_norm.bias"), Transform::Copy, vec![c]),
        "ln2.weight" => (format!("{p}.ffn_norm.weight"), Transform::Copy, vec![c]),
        "ln2.bias" => (format!("{p}.ffn_norm.bias"), Transform::Copy, vec![c]),
        "att.x_r" | "att.x_w" | "att.x_k" | "att.x_v" | "att.x_a" | "att.x_g" => {
            (format!("{p}.attn.{}", &local[4..]), Transform::Copy, vec![1, 1, c])
        }
        "att.k_k" | "att.k_a" => (format!("{p}.attn.{}", &local[4..]), Transform::Copy, vec![c]),
        "att.r_k" => (format!("{p}.attn.r_k"), Transform::Copy, shape.to_vec()),
        "att.w0" => (format!("{p}.attn.w_lora.lora.2.bias"), Transform::Copy, vec![c]),
        "att.w1" => (format!("{p}.attn.w_lora.lora.0.weight"), Transform::Transpose, t(dw)),
        "att.w2" => (format!("{p}.attn.w_lora.lora.2.weight"), Transform::Transpose, vec![c, dw]),
        "att.a0" => (format!("{p}.attn.a_lora.lora.2.bias"), Transform::Copy, vec![c]),
        "att.a1" => (format!("{p}.attn.a_lora.lora.0.weight"), Transform::Transpose, t(da)),
        "att.a2" => (format!("{p}.attn.a_lora.lora.2.weight"), Transform::Transpose, vec![c, da]),
        // Layer 0 has no value residual: fla has no v_lora there.
        "att.v0" | "att.v1" | "att.v2" if layer == "0" => return None,
        "att.v0" => (format!("{p}.attn.v_lora.lora.2.bias"), Transform::Copy, vec![c]),
        "att.v1" => (format!("{p}.attn.v_lora.lora.0.weight"), Transform::Transpose, t(dv)),
        "att.v2" => (format!("{p}.attn.v_lora.lora.2.weight"), Transform::Transpose, vec![c, dv]),
        "att.g1" => (format!("{p}.attn.g_lora.lora.0.weight"), Transform::Transpose, t(dg)),
        "att.g2" => (format!("{p}.attn.g_lora.lora.2.weight"), Transform::Transpose, vec![c, dg]),
        "att.receptance.weight" => (format!("{p}.attn.r_proj.weight"), Transform::Copy, shape.to_vec()),
        "att.key.weight" => (format!("{p}.attn.k_proj.weight"), Transform::Copy, shape.to_vec()),
        "att.value.weight" => (format!("{p}.attn.v_proj.weight"), Transform::Copy, shape.to_vec()),
        "att.output.weight" => (format!("{p}.attn.o_proj.weight"), Transform::Copy, shape.to_vec()),
        "att.ln_x.weight" => (format!("{p}.attn.g_norm.weight"), Transform::Copy, vec![c]),
        "att.ln_x.bias" => (format!("{p}.attn.g_norm.bias"), Transform::Copy, vec![c]),
        "ffn.x_k" => (format!("{p}.ffn.x_k"), Transform::Copy, vec![c]),
        "ffn.key.weight" => (format!("{p}.ffn.key.weight"), Transform::Copy, shape.to_vec()),
        "ffn.value.weight" => (format!("{p}.ffn.value.weight"), Transform::Copy, shape.to_vec()),
        _ => return None,
    };
    row(name, transform, out)
}

/// Check that the target's modelling code can express this model, then list its rows.
pub fn rows(version: Version, hp: &HParams) -> Result<Vec<HfRow>> {
    let c = hp.n_embd;
    match version {
        Version::V5_0 | Version::V5_1 => {
            return Err(Error::unsupported(format!(
                "{version} has no HF layout: the RWKV organisation's Rwkv5ForCausalLM implements RWKV-5.2 only"
            )))
        }
        Version::V6 => {
            // Rwkv6ForCausalLM fixes the LoRA sizes by the width (32/64, or 64/128 at 4096).
            let (dm, dd) = if c == 4096 { (64, 128) } else { (32, 64) };
            if hp.time_mix_extra_dim != Some(dm) || hp.time_decay_extra_dim != Some(dd) {
                return Err(Error::unsupported(format!(
                    "Rwkv6ForCausalLM hard-codes LoRA ranks {dm}/{dd} for width {c}; this model has {}/{}",
                    hp.time_mix_extra_dim.unwrap_or(0),
                    hp.time_decay_extra_dim.unwrap_or(0)
                )));
            }
        }
        Version::V7 if hp.deep_embed.is_some() => {
            return Err(Error::unsupported("RWKV-7 DeepEmbed cannot be expressed in fla's RWKV7ForCausalLM"))
        }
        _ => {}
    }
    if version != Version::V4 && hp.dim_att != c {
        return Err(Error::unsupported(format!("attention width {} differs from the embedding width {c}", hp.dim_att)));
    }
    Ok(super::table(version, hp)
        .into_iter()
        .filter(|s| s.presence == super::Presence::Required)
        .filter_map(|s| match version {
            Version::V7 => fla_v7(&s.name, &s.shape, hp),
            _ => {
                Some(HfRow { hf: renamed(&s.name), transform: Transform::Copy, shape: s.shape.clone(), source: s.name })
            }
        })
        .collect())
}

/// An HF/fla tensor name back to its BlinkDL name, and whether the bytes are transposed.
/// `None` for names no RWKV-4..7 HF layout has.
pub fn to_blink(hf: &str) -> Option<(String, bool)> {
    if let Some(rest) = hf.strip_prefix("rwkv.") {
        let mut s = rest
            .replace("embeddings.weight", "emb.weight")
            .replace(".attention.", ".att.")
            .replace(".feed_forward.", ".ffn.");
        s = s.replace(".pre_ln.", ".ln0.");
        for (short, long) in MIX_SUFFIXES {
            if let Some(stem) = s.strip_suffix(long) {
                s = format!("{stem}{short}");
            }
        }
        return Some((s, false));
    }
    match hf {
        "head.weight" | "lm_head.weight" => return Some(("head.weight".into(), false)),
        "model.embeddings.weight" => return Some(("emb.weight".into(), false)),
        "model.norm.weight" => return Some(("ln_out.weight".into(), false)),
        "model.norm.bias" => return Some(("ln_out.bias".into(), false)),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, local) = rest.split_once('.')?;
    let b = |s: &str| format!("blocks.{layer}.{s}");
    let (name, transposed) = match local {
        "pre_norm.weight" => (b("ln0.weight"), false),
        "pre_norm.bias" => (b("ln0.bias"), false),
        "attn_norm.weight" => (b("ln1.weight"), false),
        "attn_norm.bias" => (b("ln1.bias"), false),
        "ffn_norm.weight" => (b("ln2.weight"), false),
        "ffn_norm.bias" => (b("ln2.bias"), false),
        "attn.r_proj.weight" => (b("att.receptance.weight"), false),
        "attn.k_proj.weight" => (b("att.key.weight"), false),
        "attn.v_proj.weight" => (b("att.value.weight"), false),
        "attn.o_proj.weight" => (b("att.output.weight"), false),
        "attn.g_norm.weight" => (b("att.ln_x.weight"), false),
        "attn.g_norm.bias" => (b("att.ln_x.bias"), false),
        "ffn.x_k" | "ffn.key.weight" | "ffn.value.weight" => (b(local), false),
        _ => {
            let attn = local.strip_prefix("attn.")?;
            if let Some((which, part)) = attn.split_once("_lora.lora.") {
                let idx = match part {
                    "0.weight" => "1",
                    "2.weight" => "2",
                    "2.bias" => "0",
                    _ => return None,
                };
                (b(&format!("att.{which}{idx}")), part.ends_with("weight"))
            } else if ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "k_k", "k_a", "r_k"].contains(&attn) {
                (b(&format!("att.{attn}")), false)
            } else {
                return None;
            }
        }
    };
    Some((name, transposed))
}
