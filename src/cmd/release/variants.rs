//! The files a release can hold: one table, named as the published RWKV GGUF sets name them.

use convert::gguf::export::OutType;
use quantize::ftype::{FileType, Layers, MixRule, Overrides};
use quantize::GgmlType;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float(OutType),
    /// A llama-quantize file type; `keep16` keeps `output.weight` and `token_embd.weight` in a
    /// 16-bit type (the "bf16-q8_0" files); `mix` adds rwkv-convert's RWKV-aware rules.
    Quant {
        ftype: FileType,
        keep16: Option<GgmlType>,
        mix: &'static [MixRule],
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub suffix: &'static str,
    kind: Kind,
}

/// The published set, in the order of the model cards.
pub const DEFAULT_SET: &[&str] =
    &["bf16", "f16", "bf16-q8_0", "f16-q8_0", "q8_0", "q6_k", "q4_k", "q4_k_s", "q4_0", "iq3_xs", "iq3_m"];

/// More bits where llama.cpp's Q4_K_M gives them to `attn_v`/`ffn_down` (the value projections,
/// in the `use_more_bits` layers), paid for by a Q5_K head instead of Q6_K.
const Q4K_RWKV: &[MixRule] = &[
    MixRule { tensor: "time_mix_value.weight", layers: Layers::MoreBits, ty: GgmlType::Q6K },
    MixRule { tensor: "channel_mix_value.weight", layers: Layers::MoreBits, ty: GgmlType::Q6K },
    MixRule { tensor: "output.weight", layers: Layers::All, ty: GgmlType::Q5K },
];

/// The same idea one step down: Q4_K value projections in the `use_more_bits` layers.
const IQ3M_RWKV: &[MixRule] = &[
    MixRule { tensor: "time_mix_value.weight", layers: Layers::MoreBits, ty: GgmlType::Q4K },
    MixRule { tensor: "channel_mix_value.weight", layers: Layers::MoreBits, ty: GgmlType::Q4K },
    MixRule { tensor: "output.weight", layers: Layers::All, ty: GgmlType::Q5K },
];

fn q(suffix: &'static str, ftype: FileType) -> Variant {
    Variant { suffix, kind: Kind::Quant { ftype, keep16: None, mix: &[] } }
}

pub fn all() -> Vec<Variant> {
    vec![
        Variant { suffix: "bf16", kind: Kind::Float(OutType::BF16) },
        Variant { suffix: "f16", kind: Kind::Float(OutType::F16) },
        Variant {
            suffix: "bf16-q8_0",
            kind: Kind::Quant { ftype: FileType::Q8_0, keep16: Some(GgmlType::BF16), mix: &[] },
        },
        Variant {
            suffix: "f16-q8_0",
            kind: Kind::Quant { ftype: FileType::Q8_0, keep16: Some(GgmlType::F16), mix: &[] },
        },
        q("q8_0", FileType::Q8_0),
        q("q6_k", FileType::Q6K),
        q("q5_k", FileType::Q5KM),
        q("q5_k_s", FileType::Q5KS),
        q("q5_1", FileType::Q5_1),
        q("q5_0", FileType::Q5_0),
        q("q4_k", FileType::Q4KM),
        q("q4_k_s", FileType::Q4KS),
        q("q4_1", FileType::Q4_1),
        q("q4_0", FileType::Q4_0),
        q("iq4_nl", FileType::IQ4NL),
        q("iq4_xs", FileType::IQ4XS),
        q("q3_k_l", FileType::Q3KL),
        q("q3_k", FileType::Q3KM),
        q("q3_k_s", FileType::Q3KS),
        q("iq3_s", FileType::IQ3S),
        q("iq3_xs", FileType::IQ3XS),
        q("iq3_m", FileType::IQ3M),
        q("iq3_xxs", FileType::IQ3XXS),
        q("q2_k", FileType::Q2K),
        q("q2_k_s", FileType::Q2KS),
        q("iq2_m", FileType::IQ2M),
        q("iq2_s", FileType::IQ2S),
        q("iq2_xs", FileType::IQ2XS),
        q("iq2_xxs", FileType::IQ2XXS),
        q("iq1_m", FileType::IQ1M),
        q("iq1_s", FileType::IQ1S),
        q("tq2_0", FileType::TQ2_0),
        q("q2_0", FileType::Q2_0),
        q("tq1_0", FileType::TQ1_0),
        q("q1_0", FileType::Q1_0),
        q("mxfp4_moe", FileType::MXFP4MoE),
        Variant { suffix: "q4_k-rwkv", kind: Kind::Quant { ftype: FileType::Q4KM, keep16: None, mix: Q4K_RWKV } },
        Variant { suffix: "iq3_m-rwkv", kind: Kind::Quant { ftype: FileType::IQ3M, keep16: None, mix: IQ3M_RWKV } },
    ]
}

pub fn find(name: &str) -> Option<Variant> {
    all().into_iter().find(|v| v.suffix.eq_ignore_ascii_case(name))
}

impl Variant {
    pub fn file_name(&self, name: &str) -> String {
        format!("{name}-{}.gguf", self.suffix)
    }
    pub fn types_file(&self, name: &str) -> String {
        format!("{name}-{}.tensors.json", self.suffix)
    }
    pub fn float(&self) -> Option<OutType> {
        match self.kind {
            Kind::Float(t) => Some(t),
            Kind::Quant { .. } => None,
        }
    }
    pub fn quantized(&self) -> Option<(FileType, Overrides)> {
        match self.kind {
            Kind::Float(_) => None,
            Kind::Quant { ftype, keep16, .. } => {
                Some((ftype, Overrides { output: keep16, token_embedding: keep16, pure: false }))
            }
        }
    }
    pub fn rules(&self) -> Vec<MixRule> {
        match self.kind {
            Kind::Quant { mix, .. } => mix.to_vec(),
            Kind::Float(_) => Vec::new(),
        }
    }
    /// K and IQ types take the importance matrix; Q8_0, Q4_0 and the 16-bit files do not.
    pub fn uses_imatrix(&self) -> bool {
        match self.kind {
            // The K and IQ types (the legacy 32-blocks, the ternary and FP4 types are made without).
            Kind::Quant { ftype, .. } => matches!(
                ftype.default_type(),
                GgmlType::Q2K
                    | GgmlType::Q3K
                    | GgmlType::Q4K
                    | GgmlType::Q5K
                    | GgmlType::Q6K
                    | GgmlType::IQ4NL
                    | GgmlType::IQ4XS
                    | GgmlType::IQ3S
                    | GgmlType::IQ3XXS
                    | GgmlType::IQ2S
                    | GgmlType::IQ2XS
                    | GgmlType::IQ2XXS
                    | GgmlType::IQ1M
                    | GgmlType::IQ1S
            ),
            Kind::Float(_) => false,
        }
    }
    pub fn needs_imatrix(&self) -> bool {
        // The file types llama-quantize refuses without one on any model whose rows are whole
        // 256-blocks (as every released RWKV is).
        matches!(
            self.kind,
            Kind::Quant {
                ftype: FileType::IQ3XXS
                    | FileType::Q2KS
                    | FileType::IQ2M
                    | FileType::IQ2S
                    | FileType::IQ2XS
                    | FileType::IQ2XXS
                    | FileType::IQ1M
                    | FileType::IQ1S,
                ..
            }
        )
    }
    /// The llama-quantize type name (or float type), for tables.
    pub fn type_name(&self) -> String {
        match self.kind {
            Kind::Float(t) => t.ggml().name().to_uppercase(),
            Kind::Quant { ftype, keep16: Some(k), .. } => {
                format!("{} + {} out/embd", ftype.name(), k.name().to_uppercase())
            }
            Kind::Quant { ftype, mix, .. } if !mix.is_empty() => format!("{} + RWKV mix", ftype.name()),
            Kind::Quant { ftype, .. } => ftype.name().to_string(),
        }
    }
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Float(t) => format!("{} GGUF (llama.cpp's converter output)", t.ggml().name().to_uppercase()),
            Kind::Quant { ftype, keep16: Some(k), .. } => format!(
                "llama-quantize {} with output.weight and token_embd.weight kept {}",
                ftype.name(),
                k.name().to_uppercase()
            ),
            Kind::Quant { ftype, mix, .. } if !mix.is_empty() => {
                let rules: Vec<String> = mix
                    .iter()
                    .map(|r| {
                        format!(
                            "{}{} {}",
                            r.tensor.trim_end_matches(".weight"),
                            if r.layers == Layers::MoreBits { " (use_more_bits layers)" } else { "" },
                            r.ty.name().to_uppercase()
                        )
                    })
                    .collect();
                format!("rwkv-convert mix: {} with {}", ftype.name(), rules.join(", "))
            }
            Kind::Quant { ftype, .. } => format!("llama-quantize {}", ftype.name()),
        }
    }
}
