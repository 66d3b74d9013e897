//! llama.cpp's file types (`general.file_type`) and its per-tensor type choice for the RWKV
//! architectures (llama.cpp `src/llama-quant.cpp`: `tensor_allows_quantization`,
//! `llama_tensor_get_type_impl`, `tensor_type_fallback`), as measured on llama.cpp's own build.

use crate::types::GgmlType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q6K,
    Q5KM,
    Q5KS,
    Q5_0,
    Q5_1,
    Q4KM,
    Q4KS,
    Q4_0,
    Q4_1,
    IQ4NL,
    IQ4XS,
    Q3KL,
    Q3KM,
    Q3KS,
    IQ3M,
    IQ3S,
    IQ3XS,
    IQ3XXS,
    Q2K,
    Q2KS,
    IQ2M,
    IQ2S,
    IQ2XS,
    IQ2XXS,
    IQ1M,
    IQ1S,
    TQ2_0,
    TQ1_0,
    Q2_0,
    Q1_0,
    MXFP4MoE,
    /// llama-quantize's COPY: every tensor as it is; the file keeps its own `general.file_type`.
    Copy,
}

/// (file type, llama-quantize name, `general.file_type`, default tensor type)
const TABLE: &[(FileType, &str, u32, GgmlType)] = &[
    (FileType::F32, "F32", 0, GgmlType::F32),
    (FileType::F16, "F16", 1, GgmlType::F16),
    (FileType::BF16, "BF16", 32, GgmlType::BF16),
    (FileType::Q8_0, "Q8_0", 7, GgmlType::Q8_0),
    (FileType::Q6K, "Q6_K", 18, GgmlType::Q6K),
    (FileType::Q5KM, "Q5_K_M", 17, GgmlType::Q5K),
    (FileType::Q5KS, "Q5_K_S", 16, GgmlType::Q5K),
    (FileType::Q5_0, "Q5_0", 8, GgmlType::Q5_0),
    (FileType::Q5_1, "Q5_1", 9, GgmlType::Q5_1),
    (FileType::Q4KM, "Q4_K_M", 15, GgmlType::Q4K),
    (FileType::Q4KS, "Q4_K_S", 14, GgmlType::Q4K),
    (FileType::Q4_0, "Q4_0", 2, GgmlType::Q4_0),
    (FileType::Q4_1, "Q4_1", 3, GgmlType::Q4_1),
    (FileType::IQ4NL, "IQ4_NL", 25, GgmlType::IQ4NL),
    (FileType::IQ4XS, "IQ4_XS", 30, GgmlType::IQ4XS),
    (FileType::Q3KL, "Q3_K_L", 13, GgmlType::Q3K),
    (FileType::Q3KM, "Q3_K_M", 12, GgmlType::Q3K),
    (FileType::Q3KS, "Q3_K_S", 11, GgmlType::Q3K),
    (FileType::IQ3M, "IQ3_M", 27, GgmlType::IQ3S),
    (FileType::IQ3S, "IQ3_S", 26, GgmlType::IQ3S),
    (FileType::IQ3XS, "IQ3_XS", 22, GgmlType::IQ3S),
    (FileType::IQ3XXS, "IQ3_XXS", 23, GgmlType::IQ3XXS),
    (FileType::Q2K, "Q2_K", 10, GgmlType::Q2K),
    (FileType::Q2KS, "Q2_K_S", 21, GgmlType::Q2K),
    (FileType::IQ2M, "IQ2_M", 29, GgmlType::IQ2S),
    (FileType::IQ2S, "IQ2_S", 28, GgmlType::IQ2XS),
    (FileType::IQ2XS, "IQ2_XS", 20, GgmlType::IQ2XS),
    (FileType::IQ2XXS, "IQ2_XXS", 19, GgmlType::IQ2XXS),
    (FileType::IQ1M, "IQ1_M", 31, GgmlType::IQ1M),
    (FileType::IQ1S, "IQ1_S", 24, GgmlType::IQ1S),
    (FileType::TQ2_0, "TQ2_0", 37, GgmlType::TQ2_0),
    (FileType::TQ1_0, "TQ1_0", 36, GgmlType::TQ1_0),
    (FileType::Q2_0, "Q2_0", 41, GgmlType::Q2_0),
    (FileType::Q1_0, "Q1_0", 40, GgmlType::Q1_0),
    (FileType::MXFP4MoE, "MXFP4_MOE", 38, GgmlType::MXFP4),
    // The id is the input's (the writer keeps it); F32 is what llama-quantize's table says.
    (FileType::Copy, "COPY", 0, GgmlType::F32),
];

impl FileType {
    fn row(self) -> &'static (FileType, &'static str, u32, GgmlType) {
        TABLE.iter().find(|r| r.0 == self).expect("in the table")
    }
    pub fn name(self) -> &'static str {
        self.row().1
    }
    pub fn id(self) -> u32 {
        self.row().2
    }
    pub fn default_type(self) -> GgmlType {
        self.row().3
    }
    /// llama-quantize's names, case-insensitive; "Q4_K" means Q4_K_M as there.
    pub fn parse(s: &str) -> Option<FileType> {
        let s = s.to_ascii_uppercase();
        let s = match s.as_str() {
            "Q4_K" => "Q4_K_M".to_string(),
            "Q5_K" => "Q5_K_M".to_string(),
            "Q3_K" => "Q3_K_M".to_string(),
            _ => s,
        };
        TABLE.iter().find(|r| r.1 == s).map(|r| r.0)
    }
    pub fn all() -> impl Iterator<Item = FileType> {
        TABLE.iter().map(|r| r.0)
    }
}

/// Tensors llama-quantize never touches in RWKV files (they keep their input type).
const RWKV_KEEP: &[&str] = &[
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
];

/// `ggml_n_dims`: the index of the last dimension above 1, plus one (at least 1).
pub fn n_dims(ne: &[u64]) -> usize {
    ne.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1)
}

pub fn allows_quantization(name: &str, ne: &[u64]) -> bool {
    n_dims(ne) >= 2
        && name.ends_with("weight")
        && !name.contains("_norm.weight")
        && !RWKV_KEEP.iter().any(|k| name.contains(k))
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub output: Option<GgmlType>,
    pub token_embedding: Option<GgmlType>,
    pub pure: bool,
}

fn is_block_quant(t: GgmlType) -> bool {
    !matches!(t, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

/// The type a quantizable tensor of an RWKV file gets; `None` means "keep the input type".
pub fn tensor_type(name: &str, ne: &[u64], ftype: FileType, o: &Overrides) -> Option<GgmlType> {
    if !allows_quantization(name, ne) || ftype == FileType::Copy {
        return None;
    }
    if name == "token_embd.weight" {
        if let Some(t) = o.token_embedding {
            return Some(t);
        }
    }
    if name == "output.weight" {
        if let Some(t) = o.output {
            return Some(t);
        }
    }
    let default = ftype.default_type();
    if !is_block_quant(default) {
        return Some(default);
    }
    let mut t = default;
    // MXFP4 is for MoE experts (3-D tensors): RWKV has none, so every matrix is Q8_0.
    if !o.pure && ftype == FileType::MXFP4MoE {
        return Some(fallback(GgmlType::Q8_0, ne[0] as usize));
    }
    // RWKV's names fall in none of llama.cpp's attention or FFN categories: only the token
    // embedding and the output matrix get rules of their own.
    if !o.pure && name == "token_embd.weight" {
        t = match ftype {
            FileType::IQ2XXS | FileType::IQ2XS | FileType::IQ1S | FileType::IQ1M => GgmlType::Q2K,
            FileType::IQ2S | FileType::IQ2M | FileType::IQ3XXS => GgmlType::IQ3S,
            FileType::TQ1_0 | FileType::TQ2_0 | FileType::Q2_0 => GgmlType::Q4K,
            _ => t,
        };
    }
    if !o.pure && name == "output.weight" {
        t = if ne[0] as usize % default.block_size() != 0 {
            GgmlType::Q8_0
        } else if matches!(
            ftype,
            FileType::IQ3XXS
                | FileType::IQ2XXS
                | FileType::IQ2XS
                | FileType::IQ2S
                | FileType::IQ2M
                | FileType::IQ1S
                | FileType::IQ1M
        ) {
            GgmlType::Q5K
        } else if default != GgmlType::Q8_0 {
            GgmlType::Q6K
        } else {
            GgmlType::Q8_0
        };
    }
    Some(fallback(t, ne[0] as usize))
}

/// llama.cpp's `tensor_requires_imatrix`: whether quantizing `name` to `ty` in a `ftype` file
/// needs importance data. The token embedding and the output matrix never do (the embedding is
/// a lookup: no activations reach it, so no importance matrix has an entry for it).
pub fn requires_imatrix(name: &str, ty: GgmlType, ftype: FileType) -> bool {
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight" {
        return false;
    }
    match ty {
        GgmlType::IQ3XXS | GgmlType::IQ2XXS | GgmlType::IQ2XS | GgmlType::IQ2S | GgmlType::IQ1M | GgmlType::IQ1S => {
            true
        }
        // The one K-quant exception: Q2_K tensors of a Q2_K_S file.
        GgmlType::Q2K => ftype == FileType::Q2KS,
        _ => false,
    }
}

/// `tensor_type_fallback`: a row that is not whole blocks gets a 32-block type, else F16. Q1_0
/// has none in llama.cpp (it refuses the file); it is returned as is, for the writer to refuse.
pub fn fallback(t: GgmlType, ne0: usize) -> GgmlType {
    if ne0 % t.block_size() == 0 {
        return t;
    }
    let t = match t {
        GgmlType::IQ3XXS
        | GgmlType::IQ3S
        | GgmlType::IQ2XXS
        | GgmlType::IQ2XS
        | GgmlType::IQ2S
        | GgmlType::IQ1S
        | GgmlType::IQ1M
        | GgmlType::IQ4XS => GgmlType::IQ4NL,
        GgmlType::Q4K => GgmlType::Q5_0,
        GgmlType::Q6K => GgmlType::Q8_0,
        GgmlType::Q2K | GgmlType::Q3K | GgmlType::TQ1_0 | GgmlType::TQ2_0 | GgmlType::Q2_0 => GgmlType::Q4_0,
        GgmlType::Q1_0 => return GgmlType::Q1_0,
        GgmlType::Q5K => GgmlType::Q5_1,
        other => other,
    };
    if ne0 % t.block_size() == 0 {
        t
    } else {
        GgmlType::F16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measured table (notes §4.3, rwkv7 with n_embd 256, ffn 1024).
    #[test]
    fn rwkv7_types_per_file_type() {
        let big = [256u64, 256];
        let out = [256u64, 65536];
        let o = Overrides::default();
        let t = |n: &str, ne: &[u64], f| tensor_type(n, ne, f, &o);
        assert_eq!(t("blk.0.time_mix_key.weight", &big, FileType::Q4KM), Some(GgmlType::Q4K));
        assert_eq!(t("output.weight", &out, FileType::Q4KM), Some(GgmlType::Q6K));
        assert_eq!(t("token_embd.weight", &out, FileType::Q4KS), Some(GgmlType::Q4K));
        assert_eq!(t("output.weight", &out, FileType::Q4_0), Some(GgmlType::Q6K));
        assert_eq!(t("output.weight", &out, FileType::Q8_0), Some(GgmlType::Q8_0));
        assert_eq!(t("output.weight", &out, FileType::IQ3M), Some(GgmlType::Q6K));
        assert_eq!(t("blk.3.time_mix_a1.weight", &big, FileType::Q4KM), None);
        assert_eq!(t("blk.3.time_mix_lerp_fused.weight", &[256, 1, 1, 6], FileType::Q8_0), None);
        assert_eq!(t("blk.3.attn_norm.weight", &[256], FileType::Q8_0), None);
        assert_eq!(t("blk.0.channel_mix_value.weight", &[1024, 256], FileType::BF16), Some(GgmlType::BF16));
        let bf16_q8 = Overrides { output: Some(GgmlType::BF16), token_embedding: Some(GgmlType::BF16), pure: false };
        assert_eq!(tensor_type("output.weight", &out, FileType::Q8_0, &bf16_q8), Some(GgmlType::BF16));
        // Rows that are not whole 256-blocks fall back (n_embd 160).
        assert_eq!(t("blk.0.time_mix_key.weight", &[160, 160], FileType::Q4KM), Some(GgmlType::Q5_0));
        assert_eq!(t("output.weight", &[160, 65536], FileType::Q4KM), Some(GgmlType::Q8_0));
        assert_eq!(t("blk.0.time_mix_key.weight", &[160, 160], FileType::IQ3XS), Some(GgmlType::IQ4NL));
        // IQ3_XXS files keep the embedding at IQ3_S and the output at Q5_K; neither needs an imatrix.
        assert_eq!(t("token_embd.weight", &out, FileType::IQ3XXS), Some(GgmlType::IQ3S));
        assert_eq!(t("output.weight", &out, FileType::IQ3XXS), Some(GgmlType::Q5K));
        assert_eq!(t("blk.0.time_mix_key.weight", &big, FileType::IQ3XXS), Some(GgmlType::IQ3XXS));
        let pure = Overrides { pure: true, ..Overrides::default() };
        assert_eq!(tensor_type("token_embd.weight", &out, FileType::IQ3XXS, &pure), Some(GgmlType::IQ3XXS));
        let key = "blk.0.time_mix_key.weight";
        assert!(!requires_imatrix("token_embd.weight", GgmlType::IQ3XXS, FileType::IQ3XXS));
        assert!(!requires_imatrix("output.weight", GgmlType::IQ3XXS, FileType::IQ3XXS));
        assert!(requires_imatrix(key, GgmlType::IQ3XXS, FileType::IQ3XXS));
        assert!(!requires_imatrix(key, GgmlType::IQ3S, FileType::IQ3XS));
        assert!(requires_imatrix(key, GgmlType::Q2K, FileType::Q2KS));
        assert!(!requires_imatrix(key, GgmlType::Q2K, FileType::Q2K));
        // Ternary files keep a Q4_K embedding and a Q6_K output; Q2_K's output is Q6_K.
        assert_eq!(t("token_embd.weight", &out, FileType::TQ1_0), Some(GgmlType::Q4K));
        assert_eq!(t("output.weight", &out, FileType::TQ2_0), Some(GgmlType::Q6K));
        assert_eq!(t(key, &big, FileType::TQ2_0), Some(GgmlType::TQ2_0));
        assert_eq!(t(key, &[160, 160], FileType::TQ1_0), Some(GgmlType::Q4_0));
        assert_eq!(t("output.weight", &out, FileType::Q2KS), Some(GgmlType::Q6K));
        assert_eq!(t(key, &big, FileType::Q3KL), Some(GgmlType::Q3K));
        assert_eq!(FileType::parse("q3_k"), Some(FileType::Q3KM));
        // The 2- and 1-bit IQ files: a Q2_K or IQ3_S embedding, a Q5_K output; IQ2_S's
        // matrices are IQ2_XS and IQ2_M's IQ2_S.
        assert_eq!(t("token_embd.weight", &out, FileType::IQ1S), Some(GgmlType::Q2K));
        assert_eq!(t("token_embd.weight", &out, FileType::IQ2M), Some(GgmlType::IQ3S));
        assert_eq!(t("output.weight", &out, FileType::IQ1M), Some(GgmlType::Q5K));
        assert_eq!(t(key, &big, FileType::IQ2S), Some(GgmlType::IQ2XS));
        assert_eq!(t(key, &big, FileType::IQ2M), Some(GgmlType::IQ2S));
        assert_eq!(t(key, &[160, 160], FileType::IQ1S), Some(GgmlType::IQ4NL));
        assert_eq!(n_dims(&[256, 1, 1, 6]), 4);
        assert_eq!(n_dims(&[256, 1, 1]), 1);
        assert_eq!(FileType::parse("q4_k"), Some(FileType::Q4KM));
    }
}

/// Which layers a [`MixRule`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    All,
    /// llama.cpp's `use_more_bits(i, n)`: the first and last eighth, and every third layer
    /// between (the layers its Q4_K_M gives more bits in `attn_v` and `ffn_down`).
    MoreBits,
}

impl Layers {
    pub fn covers(self, layer: usize, n_layer: usize) -> bool {
        match self {
            Layers::All => true,
            Layers::MoreBits => {
                let (i, n) = (layer as i64, n_layer as i64);
                i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
            }
        }
    }
}

/// A per-tensor rule on top of a file type's own (rwkv-convert's RWKV-aware mixes; llama.cpp
/// has none for RWKV names). `tensor` is a GGUF name: `output.weight`, or a block tensor's name
/// after `blk.N.` (e.g. `time_mix_value.weight`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixRule {
    pub tensor: &'static str,
    pub layers: Layers,
    pub ty: GgmlType,
}

/// The type `rules` give a tensor whose file-type type is `ty` (the last matching rule wins),
/// with the same row-length fallback. Tensors llama.cpp never quantizes are never touched.
pub fn mix_type(rules: &[MixRule], name: &str, ne: &[u64], n_layer: usize, ty: GgmlType) -> GgmlType {
    if !allows_quantization(name, ne) {
        return ty;
    }
    let (layer, local) = match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
        Some((l, rest)) => (l.parse::<usize>().ok(), rest),
        None => (None, name),
    };
    let mut out = ty;
    for r in rules {
        let hit = r.tensor == local && layer.is_none_or(|l| r.layers.covers(l, n_layer));
        if hit {
            out = fallback(r.ty, ne[0] as usize);
        }
    }
    out
}

#[cfg(test)]
mod mix_tests {
    use super::*;

    #[test]
    fn more_bits_layers_are_llama_cpps_and_rules_touch_only_their_tensors() {
        let picked: Vec<usize> = (0..12).filter(|&i| Layers::MoreBits.covers(i, 12)).collect();
        assert_eq!(picked, [0, 3, 6, 9, 10, 11]);
        let picked: Vec<usize> = (0..24).filter(|&i| Layers::MoreBits.covers(i, 24)).collect();
        assert_eq!(picked, [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]);
        let rules = [
            MixRule { tensor: "time_mix_value.weight", layers: Layers::MoreBits, ty: GgmlType::Q6K },
            MixRule { tensor: "output.weight", layers: Layers::All, ty: GgmlType::Q5K },
        ];
        let ne = [768u64, 768];
        assert_eq!(mix_type(&rules, "blk.3.time_mix_value.weight", &ne, 12, GgmlType::Q4K), GgmlType::Q6K);
        assert_eq!(mix_type(&rules, "blk.4.time_mix_value.weight", &ne, 12, GgmlType::Q4K), GgmlType::Q4K);
        assert_eq!(mix_type(&rules, "blk.3.time_mix_key.weight", &ne, 12, GgmlType::Q4K), GgmlType::Q4K);
        assert_eq!(mix_type(&rules, "output.weight", &[768, 65536], 12, GgmlType::Q6K), GgmlType::Q5K);
        // Row lengths that are not whole 256-blocks fall back as llama.cpp's do.
        assert_eq!(mix_type(&rules, "output.weight", &[128, 512], 2, GgmlType::Q6K), GgmlType::Q5_1);
        assert_eq!(mix_type(&rules, "blk.0.time_mix_w1.weight", &[768, 64], 12, GgmlType::F32), GgmlType::F32);
    }
}
