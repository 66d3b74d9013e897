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
        out.extend(match version {
            Version::V4 => super::v4::gguf_layer(hp, i),
            Version::V5_0 | Version::V5_1 | Version::V5_2 => super::v5::gguf_layer(version, hp, i),
            Version::V6 => super::v6::gguf_layer(hp, i),
            Version::V7 => super::v7::gguf_layer(hp, i),
        });
    }
    out.push(row("output_norm.weight".into(), &s("ln_out.weight"), vec![c], Transform::Copy, true));
    out.push(row("output_norm.bias".into(), &s("ln_out.bias"), vec![c], Transform::Copy, true));
    out.push(row("output.weight".into(), &s("head.weight"), vec![v, c], Transform::Copy, false));
    out
}
