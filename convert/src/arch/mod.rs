//! RWKV architectures: version detection, hyper-parameters inferred from shapes, and one table of
//! tensors per version (name, shape, presence). Readers validate against the table; writers will
//! add their target names to it as new columns.

pub mod gguf;
pub mod hf;
pub mod row;
pub mod transform;
pub mod v4;
pub mod v5;
pub mod v6;
pub mod v7;

use crate::error::{Error, Result};
use crate::tensor::{shape_string, squeeze, Tensor};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Version {
    #[serde(rename = "4")]
    V4,
    #[serde(rename = "5.0")]
    V5_0,
    #[serde(rename = "5.1")]
    V5_1,
    #[serde(rename = "5.2")]
    V5_2,
    #[serde(rename = "6")]
    V6,
    #[serde(rename = "7")]
    V7,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V4 => "4",
            Version::V5_0 => "5.0",
            Version::V5_1 => "5.1",
            Version::V5_2 => "5.2",
            Version::V6 => "6",
            Version::V7 => "7",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RWKV-{}", self.as_str())
    }
}

/// Everything about a model's shape, inferred from its tensors (never hard-coded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct HParams {
    pub n_layer: usize,
    pub n_embd: usize,
    pub vocab_size: usize,
    pub dim_att: usize,
    pub dim_ffn: usize,
    /// v5+: channels per head (N) and heads (H), `dim_att = H·N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_head: Option<usize>,
    /// v5.0/5.1: the bonus is stored as `time_faaaa` (u itself) instead of `time_first` (log u).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bonus_is_faaaa: bool,
    /// v6: rank of the token-shift LoRA (`time_maa_w1` is [C, 5·rank]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_mix_extra_dim: Option<usize>,
    /// v6: rank of the decay LoRA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_decay_extra_dim: Option<usize>,
    /// State-tuned files (v5–v7) carry `att.time_state`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_time_state: bool,
    /// v7 LoRA ranks: decay (w), in-context learning rate (a), value residual (v), gate (g).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay_lora: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_lora: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_lora: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_lora: Option<usize>,
    /// v7 DeepEmbed: per-token table width (1024 = 32×32) and its rank (32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep_embed: Option<DeepEmbed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeepEmbed {
    pub table_dim: usize,
    pub rank: usize,
}

/// Whether a tensor of the table must be in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// May be absent; used when present (`time_state`).
    Optional,
    /// May be present but is never read (v7 `v0/v1/v2` of layer 0, which releases drop).
    Ignored,
}

/// One row of a version's table.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub shape: Vec<usize>,
    pub presence: Presence,
}

impl Spec {
    fn new(name: impl Into<String>, shape: Vec<usize>, presence: Presence) -> Spec {
        Spec { name: name.into(), shape, presence }
    }
}

/// Layer `i`'s table (`att.key.weight`, …: BlinkDL name, shape, presence, GGUF tensor) for a
/// version; the layer decides layer-0 specials.
pub fn layer(version: Version, hp: &HParams, i: usize) -> Vec<row::LayerRow> {
    let mut rows = match version {
        Version::V4 => return v4::layer(hp, i),
        Version::V5_0 | Version::V5_1 | Version::V5_2 => v5::layer(version, hp, i),
        Version::V6 => v6::layer(hp, i),
        Version::V7 => v7::layer(hp, i),
    };
    // A state-tuned model (RWKV-PEFT's merge_state.py) carries each layer's trained WKV state; no
    // GGUF or HF layout has a place for it (see `crate::tuning::state`).
    let (h, n) = (hp.n_head.unwrap_or(0), hp.head_size.unwrap_or(0));
    rows.push(row::LayerRow::new("att.time_state", vec![h, n, n], Presence::Optional));
    rows
}

/// The full table of a model: global tensors, then every layer's.
pub fn table(version: Version, hp: &HParams) -> Vec<Spec> {
    let (c, v) = (hp.n_embd, hp.vocab_size);
    let mut out = vec![Spec::new("emb.weight", vec![v, c], Presence::Required)];
    for i in 0..hp.n_layer {
        let rows = layer(version, hp, i).into_iter().map(|r| (r.blink, r.shape, r.presence));
        let mut common = vec![("ln1.weight", vec![c], Presence::Required), ("ln1.bias", vec![c], Presence::Required)];
        common.push(("ln2.weight", vec![c], Presence::Required));
        common.push(("ln2.bias", vec![c], Presence::Required));
        if i == 0 {
            common.push(("ln0.weight", vec![c], Presence::Required));
            common.push(("ln0.bias", vec![c], Presence::Required));
        }
        for (name, shape, presence) in common.into_iter().chain(rows) {
            out.push(Spec::new(format!("blocks.{i}.{name}"), shape, presence));
        }
    }
    out.push(Spec::new("ln_out.weight", vec![c], Presence::Required));
    out.push(Spec::new("ln_out.bias", vec![c], Presence::Required));
    out.push(Spec::new("head.weight", vec![v, c], Presence::Required));
    out
}

/// Read access to tensors by name during detection.
pub struct Lookup<'a> {
    by_name: HashMap<&'a str, &'a Tensor>,
}

impl<'a> Lookup<'a> {
    pub fn new(tensors: &'a [Tensor]) -> Self {
        Lookup { by_name: tensors.iter().map(|t| (t.name.as_str(), t)).collect() }
    }
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &&'a str> {
        self.by_name.keys()
    }
    /// The shape of a tensor that hyper-parameters are read from; its absence is an error.
    pub fn shape(&self, name: &str, what: &str) -> Result<Vec<usize>> {
        self.by_name
            .get(name)
            .map(|t| t.shape.clone())
            .ok_or_else(|| Error::not_rwkv(format!("tensor '{name}' is missing, so the {what} cannot be inferred")))
    }
    /// Dimension `axis` of a tensor of exactly `rank` dimensions.
    pub fn dim(&self, name: &str, rank: usize, axis: usize, what: &str) -> Result<usize> {
        let shape = self.shape(name, what)?;
        if shape.len() != rank || shape[axis] == 0 {
            return Err(Error::not_rwkv(format!(
                "tensor '{name}' has shape {}; expected {rank} non-empty dimensions to infer the {what}",
                shape_string(&shape)
            )));
        }
        Ok(shape[axis])
    }
}

/// Find the version and hyper-parameters of a list of tensors, then check every tensor against
/// the version's table (nothing missing, nothing extra, every shape right).
pub fn detect(tensors: &[Tensor]) -> Result<(Version, HParams)> {
    let look = Lookup::new(tensors);
    fine_tune_file(&look)?;
    let version = detect_version(&look)?;
    let mut hp = HParams::default();
    let emb = look.shape("emb.weight", "vocabulary size");
    let (vocab, embd) = match emb.as_deref() {
        Ok([v, c]) => (*v, *c),
        _ => return Err(not_rwkv_keys(&look, "it has no 2-D 'emb.weight'")),
    };
    hp.vocab_size = vocab;
    hp.n_embd = embd;
    hp.n_layer = n_layer(&look);
    match version {
        Version::V4 => v4::infer(&look, &mut hp)?,
        Version::V5_0 | Version::V5_1 | Version::V5_2 => v5::infer(version, &look, &mut hp)?,
        Version::V6 => v6::infer(&look, &mut hp)?,
        Version::V7 => v7::infer(&look, &mut hp)?,
    }
    hp.has_time_state = version != Version::V4 && look.has("blocks.0.att.time_state");
    validate(version, &hp, tensors)?;
    Ok((version, hp))
}

fn n_layer(look: &Lookup) -> usize {
    look.names()
        .filter_map(|n| n.strip_prefix("blocks.")?.split('.').next()?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

fn not_rwkv_keys(look: &Lookup, why: &str) -> Error {
    let mut names: Vec<&str> = look.names().copied().collect();
    names.sort();
    let shown: Vec<&str> = names.iter().copied().take(12).collect();
    Error::not_rwkv(format!(
        "not an RWKV-4..7 checkpoint: {why}; its {} tensors include {}",
        names.len(),
        shown.join(", ")
    ))
}

/// Refuse the files of a fine-tune (they hold only what training changed) with what to do instead.
fn fine_tune_file(look: &Lookup) -> Result<()> {
    let any = |suffix: &str| look.names().any(|n| n.ends_with(suffix));
    let what = if any(".init_lora_A") {
        "a PiSSA init file (init_lora_A/B): pass it with --lora-init beside its adapter's --lora"
    } else if any(".lora_A") || any(".lora_B") {
        "a LoRA/PiSSA adapter (lora_A/B pairs), not a model: merge it into its base model with --lora ADAPTER"
    } else if look.names().next().is_some() && look.names().all(|n| n.ends_with(".att.time_state")) {
        "a state-tuning file (att.time_state only), not a model: run its base model with --state FILE"
    } else {
        return Ok(());
    };
    Err(Error::not_rwkv(format!("this is {what}")))
}

fn detect_version(look: &Lookup) -> Result<Version> {
    let any = |pred: &dyn Fn(&str) -> bool| look.names().any(|n| pred(n));
    if any(&|n| n.starts_with("blocks.") && n.contains(".qkv.")) {
        return Err(Error::unsupported(
            "this is the RWKV-7b DeepEmbed-attention variant (blocks.N.qkv.* tensors), which is not supported",
        ));
    }
    if any(&|n| n.ends_with(".att.r_k") || n.ends_with(".att.x_r") || n.ends_with(".att.w0")) {
        return Ok(Version::V7);
    }
    if any(&|n| n.contains(".att.time_maa")) {
        return Ok(Version::V6);
    }
    if any(&|n| n.contains(".att.ln_x.")) {
        // The whole key set decides, not file order (the package misdetects 1-layer 5.2 files).
        if look.shape("blocks.0.att.time_decay", "").is_ok_and(|s| s.len() == 2 && s[1] > 1) {
            return Ok(Version::V5_2);
        }
        return Ok(if any(&|n| n.ends_with(".att.gate.weight")) { Version::V5_1 } else { Version::V5_0 });
    }
    if look.has("blocks.0.att.time_decay") && look.has("blocks.0.att.time_first") {
        return Ok(Version::V4);
    }
    Err(not_rwkv_keys(
        look,
        "it has none of the tensors that mark a version (att.time_decay, att.time_maa_*, att.r_k, …)",
    ))
}

fn validate(version: Version, hp: &HParams, tensors: &[Tensor]) -> Result<()> {
    let table = table(version, hp);
    let expected: HashMap<&str, &Spec> = table.iter().map(|s| (s.name.as_str(), s)).collect();
    let present: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let missing: Vec<&str> = table
        .iter()
        .filter(|s| s.presence == Presence::Required && !present.contains(s.name.as_str()))
        .map(|s| s.name.as_str())
        .collect();
    let unexpected: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).filter(|n| !expected.contains_key(n)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        let list = |v: &[&str]| {
            let mut s = v.iter().take(12).copied().collect::<Vec<_>>().join(", ");
            if v.len() > 12 {
                s += &format!(", … ({} in all)", v.len());
            }
            s
        };
        let mut why = Vec::new();
        if !unexpected.is_empty() {
            why.push(format!("{} tensors that no {version} model has: {}", unexpected.len(), list(&unexpected)));
        }
        if !missing.is_empty() {
            why.push(format!("{} {version} tensors are missing: {}", missing.len(), list(&missing)));
        }
        return Err(Error::not_rwkv(format!(
            "not an RWKV-4..7 checkpoint: it looks like {version} (n_layer {}, n_embd {}) but {}",
            hp.n_layer,
            hp.n_embd,
            why.join("; and ")
        )));
    }
    for t in tensors {
        let spec = expected[t.name.as_str()];
        if squeeze(&t.shape) != squeeze(&spec.shape) {
            return Err(Error::not_rwkv(format!(
                "has shape {} but a {version} model with these hyper-parameters needs {}",
                t.shape_string(),
                shape_string(&spec.shape)
            ))
            .tensor(&t.name));
        }
        if !matches!(t.dtype, crate::DType::F32 | crate::DType::F16 | crate::DType::BF16 | crate::DType::Quant { .. }) {
            return Err(Error::unsupported(format!(
                "dtype {} is not supported; RWKV weights are f32, f16 or bf16",
                t.dtype
            ))
            .tensor(&t.name));
        }
    }
    Ok(())
}
