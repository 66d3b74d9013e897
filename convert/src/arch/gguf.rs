//! The GGUF column of the architecture tables, for a whole model: the global rows and each
//! version's layer rows ([`GgufRow`]), and the architecture names. Writers map the canonical model
//! out through these rows; the GGUF reader maps files back in through them.

use super::row::row;
use super::{HParams, Version};

pub use super::row::GgufRow;
pub use super::transform::Transform;

/// The GGUF architecture name of a version (`rwkv4`/`rwkv5` are ours: llama.cpp loads neither).
pub fn arch_name(version: Version) -> &'static str {
    match version {
        Version::V4 => "rwkv4",
        Version::V5_0 | Version::V5_1 | Version::V5_2 => "rwkv5",
        Version::V6 => "rwkv6",
        Version::V7 => "rwkv7",
    }
}

/// Whether llama.cpp itself loads files of this version.
pub fn llama_cpp_loads(version: Version) -> bool {
    matches!(version, Version::V6 | Version::V7)
}

/// Every GGUF tensor of a model, layer by layer, then the global ones.
pub fn rows(version: Version, hp: &HParams) -> Vec<GgufRow> {
    let (c, v) = (hp.n_embd, hp.vocab_size);
    let s = |n: &str| vec![n.to_string()];
    let mut out = vec![
        row("token_embd.weight".into(), &s("emb.weight"), vec![v, c], Transform::Copy, false),
        row("token_embd_norm.weight".into(), &s("blocks.0.ln0.weight"), vec![c], Transform::Copy, true),
        row("token_embd_norm.bias".into(), &s("blocks.0.ln0.bias"), vec![c], Transform::Copy, true),
    ];
    for i in 0..hp.n_layer {
        let b = |n: &str| format!("blocks.{i}.{n}");
        let g = |n: &str| format!("blk.{i}.{n}");
        out.push(row(g("attn_norm.weight"), &[b("ln1.weight")], vec![c], Transform::Copy, true));
        out.push(row(g("attn_norm.bias"), &[b("ln1.bias")], vec![c], Transform::Copy, true));
        out.push(row(g("attn_norm_2.weight"), &[b("ln2.weight")], vec![c], Transform::Copy, true));
        out.push(row(g("attn_norm_2.bias"), &[b("ln2.bias")], vec![c], Transform::Copy, true));
        out.extend(super::row::gguf_rows(&super::layer(version, hp, i), i));
    }
    out.push(row("output_norm.weight".into(), &s("ln_out.weight"), vec![c], Transform::Copy, true));
    out.push(row("output_norm.bias".into(), &s("ln_out.bias"), vec![c], Transform::Copy, true));
    out.push(row("output.weight".into(), &s("head.weight"), vec![v, c], Transform::Copy, false));
    out
}

/// The hyper-parameters a version's GGUF stores under `{arch}.`, besides the ones every version
/// has (`block_count`, `embedding_length`, `feed_forward_length`): one list that the writer walks
/// to write them ([`HpKey::value`]) and the reader to read them back ([`HpKey::read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpKey {
    /// RWKV-5's sub-version ("5.0", "5.1", "5.2"); the reader takes the version from it first.
    SubVersion,
    BonusIsFaaaa,
    /// RWKV-6's `rescale_every` (baked into the written matrices; the reader inverts it per row).
    RescaleEvery,
    HeadSize,
    TimeMixExtraDim,
    TimeDecayExtraDim,
    DecayLoraRank,
    IclrLoraRank,
    ValueResidualLoraRank,
    GateLoraRank,
}

/// A version's keys, in the order llama.cpp's converter writes them (after the layer-norm epsilon).
pub fn hp_keys(version: Version) -> &'static [HpKey] {
    use HpKey::*;
    match version {
        Version::V4 => &[],
        Version::V5_0 | Version::V5_1 | Version::V5_2 => &[SubVersion, BonusIsFaaaa, HeadSize],
        Version::V6 => &[RescaleEvery, HeadSize, TimeMixExtraDim, TimeDecayExtraDim],
        Version::V7 => &[HeadSize, DecayLoraRank, IclrLoraRank, ValueResidualLoraRank, GateLoraRank],
    }
}

impl HpKey {
    /// The key under `{arch}.`.
    pub fn name(self) -> &'static str {
        match self {
            HpKey::SubVersion => "version",
            HpKey::BonusIsFaaaa => "bonus_is_faaaa",
            HpKey::RescaleEvery => "rescale_every_n_layers",
            HpKey::HeadSize => "wkv.head_size",
            HpKey::TimeMixExtraDim => "time_mix_extra_dim",
            HpKey::TimeDecayExtraDim => "time_decay_extra_dim",
            HpKey::DecayLoraRank => "attention.decay_lora_rank",
            HpKey::IclrLoraRank => "attention.iclr_lora_rank",
            HpKey::ValueResidualLoraRank => "attention.value_residual_mix_lora_rank",
            HpKey::GateLoraRank => "attention.gate_lora_rank",
        }
    }

    /// The value written for a model of `version` with `hp`.
    pub fn value(self, version: Version, hp: &HParams) -> crate::gguf::Value {
        use crate::gguf::Value;
        let u = |v: Option<usize>| Value::U32(v.unwrap_or(0) as u32);
        match self {
            HpKey::SubVersion => Value::Str(version.as_str().into()),
            HpKey::BonusIsFaaaa => Value::Bool(version == Version::V5_2 || hp.bonus_is_faaaa),
            HpKey::RescaleEvery => Value::U32(super::v6::RESCALE_EVERY as u32),
            HpKey::HeadSize => u(hp.head_size),
            HpKey::TimeMixExtraDim => u(hp.time_mix_extra_dim),
            HpKey::TimeDecayExtraDim => u(hp.time_decay_extra_dim),
            HpKey::DecayLoraRank => u(hp.decay_lora),
            HpKey::IclrLoraRank => u(hp.a_lora),
            // Files of one layer have no value-residual LoRA; llama.cpp wants a rank anyway.
            HpKey::ValueResidualLoraRank => u(hp.v_lora.or(hp.a_lora)),
            HpKey::GateLoraRank => u(hp.gate_lora),
        }
    }

    /// Read the key's value (`None` when the file lacks it) into `hp`, whose `dim_att` and
    /// `n_layer` are known. Keys the reader has no field for (the version, the rescale) are
    /// skipped; a missing required integer is an error.
    pub fn read(self, version: Version, v: Option<&crate::gguf::Value>, hp: &mut HParams) -> crate::Result<()> {
        use crate::gguf::Value;
        let int = || -> crate::Result<usize> {
            v.and_then(Value::as_u64).map(|n| n as usize).ok_or_else(|| {
                crate::Error::not_rwkv(format!(
                    "metadata key '{}.{}' is missing or not an integer",
                    arch_name(version),
                    self.name()
                ))
            })
        };
        match self {
            HpKey::SubVersion | HpKey::RescaleEvery => {}
            HpKey::BonusIsFaaaa if version != Version::V5_2 => hp.bonus_is_faaaa = matches!(v, Some(Value::Bool(true))),
            HpKey::BonusIsFaaaa => {}
            HpKey::HeadSize => {
                let n = int()?;
                hp.head_size = Some(n);
                hp.n_head = Some(hp.dim_att / n.max(1));
            }
            HpKey::TimeMixExtraDim => hp.time_mix_extra_dim = Some(int()?),
            HpKey::TimeDecayExtraDim => hp.time_decay_extra_dim = Some(int()?),
            HpKey::DecayLoraRank => hp.decay_lora = Some(int()?),
            HpKey::IclrLoraRank => hp.a_lora = Some(int()?),
            HpKey::ValueResidualLoraRank if hp.n_layer > 1 => hp.v_lora = Some(int()?),
            HpKey::ValueResidualLoraRank => {}
            HpKey::GateLoraRank => hp.gate_lora = Some(int()?),
        }
        Ok(())
    }
}
