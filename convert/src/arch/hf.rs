//! The HF column of the architecture tables: transformers' `RwkvForCausalLM` (RWKV-4), the RWKV
//! organisation's `Rwkv5ForCausalLM`/`Rwkv6ForCausalLM` (RWKV-5.2/6) and flash-linear-attention's
//! `RWKV7ForCausalLM` (RWKV-7). Each row: HF name, BlinkDL source, transform, shape written. fla's
//! names are a column of `v7.rs`'s table; RWKV-4/5/6 names are BlinkDL's renamed by the rules here.

use super::row::{HfName, Written};
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

/// RWKV-4/5/6: the official converters rename only, and by these pieces (BlinkDL's, HF's), read
/// left to right to write and right to left to read back: the `rwkv.` prefix, `att`→`attention`,
/// `ffn`→`feed_forward`, `ln0`→`pre_ln`; shapes stay.
const RENAMES: [(&str, &str); 4] =
    [("emb.weight", "embeddings.weight"), (".att.", ".attention."), (".ffn.", ".feed_forward."), (".ln0.", ".pre_ln.")];

/// RWKV-4/5 mixing vectors: BlinkDL's short suffix and the HF name's long one.
const MIX_SUFFIXES: [(&str, &str); 4] = [
    ("time_mix_k", "time_mix_key"),
    ("time_mix_v", "time_mix_value"),
    ("time_mix_r", "time_mix_receptance"),
    ("time_mix_g", "time_mix_gate"),
];

/// [`RENAMES`] and [`MIX_SUFFIXES`] one way: `to_hf` from BlinkDL's names, else back.
fn rename(name: &str, to_hf: bool) -> String {
    let pick = |(blink, hf): (&'static str, &'static str)| if to_hf { (blink, hf) } else { (hf, blink) };
    let mut s = RENAMES.into_iter().map(pick).fold(name.to_string(), |s, (from, to)| s.replace(from, to));
    for (from, to) in MIX_SUFFIXES.into_iter().map(pick) {
        if let Some(stem) = s.strip_suffix(from) {
            s = format!("{stem}{to}");
        }
    }
    s
}

/// The fla row of a BlinkDL tensor of shape `shape`, from fla's names of a layer's tensors
/// (`layer_names`) or the global ones; `None` for tensors fla has no place for.
fn fla_v7(blink: &str, shape: &[usize], layer_names: &[HfName]) -> Option<HfRow> {
    let (local, prefix, table): (&str, String, &[HfName]) =
        match blink.strip_prefix("blocks.").and_then(|r| r.split_once('.')) {
            Some((layer, local)) => (local, format!("model.layers.{layer}."), layer_names),
            None => (blink, String::new(), &super::v7::FLA_GLOBAL),
        };
    let &(_, hf, transform, written) = table.iter().find(|r| r.0 == local)?;
    let shape = match written {
        Written::Same => shape.to_vec(),
        Written::Squeezed => shape.iter().copied().filter(|&d| d != 1).collect(),
        Written::Reversed => shape.iter().rev().copied().collect(),
    };
    Some(HfRow { hf: format!("{prefix}{hf}"), source: blink.to_string(), transform, shape })
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
    let fla = super::v7::fla_layer_names();
    Ok(super::table(version, hp)
        .into_iter()
        .filter(|s| s.presence == super::Presence::Required)
        .filter_map(|s| match version {
            Version::V7 => fla_v7(&s.name, &s.shape, fla),
            _ if s.name == "head.weight" => {
                Some(HfRow { hf: s.name.clone(), transform: Transform::Copy, shape: s.shape.clone(), source: s.name })
            }
            _ => Some(HfRow {
                hf: format!("rwkv.{}", rename(&s.name, true)),
                transform: Transform::Copy,
                shape: s.shape.clone(),
                source: s.name,
            }),
        })
        .collect())
}

/// An HF/fla tensor name back to its BlinkDL name, and whether the bytes are transposed: the
/// tables above read backwards. `None` for names no RWKV-4..7 HF layout has.
pub fn to_blink(hf: &str) -> Option<(String, bool)> {
    if let Some(rest) = hf.strip_prefix("rwkv.") {
        return Some((rename(rest, false), false));
    }
    let back = |table: &[HfName], local: &str, prefix: String| {
        let &(blink, _, transform, _) = table.iter().find(|r| r.1 == local)?;
        Some((format!("{prefix}{blink}"), transform == Transform::Transpose))
    };
    if hf == "head.weight" {
        return Some((hf.to_string(), false));
    }
    match hf.strip_prefix("model.layers.").and_then(|r| r.split_once('.')) {
        Some((layer, local)) => back(super::v7::fla_layer_names(), local, format!("blocks.{layer}.")),
        None => back(&super::v7::FLA_GLOBAL, hf, String::new()),
    }
}
