//! config.json, generation_config.json, tokenizer files and provenance for an HF/fla folder.
//! JSON is written as transformers writes it: sorted keys, indent 2, Python float spelling.

use super::{HfDtype, HfOptions};
use crate::arch::Version;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::vocab::{BpeVocab, Vocab};
use std::collections::BTreeMap;

/// A JSON value rendered the way Python's `json.dumps(indent=2)` renders it.
#[derive(Clone)]
pub enum J {
    Int(i64),
    /// Already spelled as Python would (`1e-05`, `4.0`).
    Float(String),
    Str(String),
    Bool(bool),
    Null,
    List(Vec<J>),
    Map(BTreeMap<String, J>),
}

fn s(x: &str) -> J {
    J::Str(x.into())
}
fn i(x: usize) -> J {
    J::Int(x as i64)
}

pub fn render(v: &J, indent: usize) -> String {
    let pad = |n: usize| " ".repeat(n);
    match v {
        J::Int(x) => x.to_string(),
        J::Float(x) => x.clone(),
        J::Str(x) => serde_json::json!(x).to_string(),
        J::Bool(b) => b.to_string(),
        J::Null => "null".into(),
        J::List(items) if items.is_empty() => "[]".into(),
        J::List(items) => {
            let inner: Vec<String> =
                items.iter().map(|x| format!("{}{}", pad(indent + 2), render(x, indent + 2))).collect();
            format!("[\n{}\n{}]", inner.join(",\n"), pad(indent))
        }
        J::Map(m) if m.is_empty() => "{}".into(),
        J::Map(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{}{}: {}", pad(indent + 2), serde_json::json!(k), render(x, indent + 2)))
                .collect();
            format!("{{\n{}\n{}}}", inner.join(",\n"), pad(indent))
        }
    }
}

fn file(m: BTreeMap<String, J>) -> Vec<u8> {
    (render(&J::Map(m), 0) + "\n").into_bytes()
}

fn torch_dtype(model: &Model, dtype: HfDtype) -> &'static str {
    let d = match dtype {
        HfDtype::Keep => model.main_dtype().unwrap_or(crate::DType::F32),
        HfDtype::F32 => crate::DType::F32,
        HfDtype::F16 => crate::DType::F16,
        HfDtype::BF16 => crate::DType::BF16,
    };
    match d {
        crate::DType::F16 => "float16",
        crate::DType::BF16 => "bfloat16",
        _ => "float32",
    }
}

fn config(model: &Model, opts: &HfOptions) -> Result<BTreeMap<String, J>> {
    let (hp, dtype) = (&model.hparams, opts.dtype);
    let mut c: BTreeMap<String, J> = BTreeMap::new();
    let mut put = |k: &str, v: J| {
        c.insert(k.to_string(), v);
    };
    put("bos_token_id", i(0));
    put("eos_token_id", i(0));
    put("hidden_size", i(hp.n_embd));
    put("num_hidden_layers", i(hp.n_layer));
    put("vocab_size", i(hp.vocab_size));
    put("tie_word_embeddings", J::Bool(false));
    put("use_cache", J::Bool(true));
    put("torch_dtype", s(torch_dtype(model, dtype)));
    match model.version {
        Version::V4 | Version::V5_2 | Version::V6 => {
            let (arch, ty) = match model.version {
                Version::V4 => ("RwkvForCausalLM", "rwkv"),
                Version::V5_2 => ("Rwkv5ForCausalLM", "rwkv5"),
                _ => ("Rwkv6ForCausalLM", "rwkv6"),
            };
            put("architectures", J::List(vec![s(arch)]));
            put("model_type", s(ty));
            put("attention_hidden_size", i(hp.dim_att));
            put("intermediate_size", i(hp.dim_ffn));
            put("layer_norm_epsilon", J::Float("1e-05".into()));
            put("rescale_every", i(6));
            if model.version == Version::V4 {
                put("context_length", i(context_length(model, opts)));
            } else {
                let n = hp.head_size.unwrap_or(64);
                put("head_size", i(n));
                put("head_size_divisor", i(8));
                put("num_attention_heads", i(hp.n_head.unwrap_or(hp.dim_att / n)));
                let (cfg, modeling) =
                    if model.version == Version::V5_2 { ("rwkv5", "Rwkv5") } else { ("rwkv6", "Rwkv6") };
                let mut auto = BTreeMap::new();
                auto.insert("AutoConfig".to_string(), s(&format!("configuration_{cfg}.{modeling}Config")));
                auto.insert("AutoModelForCausalLM".to_string(), s(&format!("modeling_{cfg}.{modeling}ForCausalLM")));
                put("auto_map", J::Map(auto));
            }
        }
        Version::V7 => {
            let n = hp.head_size.unwrap_or(64);
            put("architectures", J::List(vec![s("RWKV7ForCausalLM")]));
            put("model_type", s("rwkv7"));
            put("attn", J::Null);
            put("attn_mode", s("chunk"));
            put("a_low_rank_dim", i(hp.a_lora.unwrap_or(0)));
            put("decay_low_rank_dim", i(hp.decay_lora.unwrap_or(0)));
            put("gate_low_rank_dim", i(hp.gate_lora.unwrap_or(0)));
            put("v_low_rank_dim", i(hp.v_lora.or(hp.a_lora).unwrap_or(0)));
            put("fuse_cross_entropy", J::Bool(true));
            put("fuse_norm", J::Bool(true));
            // fla's converter writes a constant here; the right value comes from r_k.
            put("head_dim", i(n));
            put("num_heads", i(hp.n_head.unwrap_or(hp.n_embd / n)));
            put("hidden_act", s("sqrelu"));
            put("hidden_ratio", J::Float(format!("{:?}", hp.dim_ffn as f64 / hp.n_embd as f64)));
            put("intermediate_size", i(hp.dim_ffn));
            put("initializer_range", J::Float("0.02".into()));
            put("max_position_embeddings", i(2048));
            put("norm_bias", J::Bool(true));
            put("norm_eps", J::Float("1e-05".into()));
            put("norm_first", J::Bool(true));
            put("value_dim", J::List(vec![i(hp.n_embd); hp.n_layer]));
        }
        other => return Err(Error::unsupported(format!("{other} has no HF layout"))),
    }
    Ok(c)
}

/// The files besides the weights.
pub fn files(model: &Model, opts: &HfOptions, source_hash: (u64, String)) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![("config.json".to_string(), file(config(model, opts)?))];
    let mut gen = BTreeMap::new();
    for k in ["bos_token_id", "eos_token_id", "pad_token_id"] {
        gen.insert(k.to_string(), i(0));
    }
    out.push(("generation_config.json".into(), file(gen)));
    match model.tokenizer() {
        Ok(Vocab::World) => out.extend(world_files(model)),
        Ok(Vocab::Bpe(bpe)) => out.extend(bpe_files(&bpe)),
        // A vocabulary that is neither World's nor GPT-NeoX's: the weights without tokenizer
        // files (the caller says so), never a tokenizer that does not fit.
        Err(_) => {}
    }
    out.push(("rwkv_convert.json".into(), file(provenance(model, source_hash))));
    Ok(out)
}

/// RWKV-4's `context_length` (transformers' `RwkvConfig`): `--ctx-len`, else 1024 as the
/// RWKV/rwkv-4-*-pile folders say (it only sizes a CUDA kernel; the model runs any length).
fn context_length(model: &Model, opts: &HfOptions) -> usize {
    opts.context_length.unwrap_or(if model.version == Version::V4 { 1024 } else { 1_048_576 })
}

/// World's files: the vocabulary with LF line ends (the copy HF repositories carry; a test model
/// with fewer rows gets the first ones), and the RWKV org's tokenizer config.
fn world_files(model: &Model) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let lf: Vec<u8> = crate::vocab::WORLD_VOCAB.iter().copied().filter(|&b| b != b'\r').collect();
    let lines = model.hparams.vocab_size.saturating_sub(1);
    let cut = lf.split_inclusive(|&b| b == b'\n').take(lines).flatten().copied().collect();
    out.push(("rwkv_vocab_v20230424.txt".into(), cut));
    // Id 0 is the document separator: bos = eos = unk = pad. Never "\n\n" (id 261) as a
    // special token: transformers would append it as a new, untrained id 65530.
    let (class, end) = match model.version {
        Version::V7 => ("RwkvTokenizer", "<|rwkv_tokenizer_end_of_text|>"),
        Version::V5_2 => ("Rwkv5Tokenizer", "<s>"),
        _ => ("Rwkv6Tokenizer", "<s>"),
    };
    let mut tc = BTreeMap::new();
    tc.insert("add_prefix_space".to_string(), J::Bool(false));
    tc.insert("tokenizer_class".to_string(), s(class));
    tc.insert("use_fast".to_string(), J::Bool(false));
    let mut auto = BTreeMap::new();
    auto.insert("AutoTokenizer".to_string(), J::List(vec![s(&format!("hf_rwkv_tokenizer.{class}")), J::Null]));
    tc.insert("auto_map".to_string(), J::Map(auto));
    for k in ["bos_token", "eos_token", "unk_token", "pad_token"] {
        tc.insert(k.to_string(), s(end));
    }
    out.push(("tokenizer_config.json".into(), file(tc)));
    let mut sm = BTreeMap::new();
    for k in ["bos_token", "eos_token", "unk_token", "pad_token"] {
        sm.insert(k.to_string(), s(end));
    }
    out.push(("special_tokens_map.json".into(), file(sm)));
    let mut added = BTreeMap::new();
    added.insert(end.to_string(), i(0));
    out.push(("added_tokens.json".into(), file(added)));
    out
}

/// A BPE tokenizer's files as the RWKV/rwkv-4-*-pile folders carry GPT-NeoX-20B's: the JSON as
/// is, and `GPTNeoXTokenizer` with `<|endoftext|>` as bos, eos and unk.
fn bpe_files(bpe: &BpeVocab) -> Vec<(String, Vec<u8>)> {
    let mut tc = BTreeMap::new();
    tc.insert("add_prefix_space".to_string(), J::Bool(false));
    tc.insert("tokenizer_class".to_string(), s("GPTNeoXTokenizer"));
    let mut sm = BTreeMap::new();
    if bpe.tokens.iter().any(|t| t == "<|endoftext|>") {
        for k in ["bos_token", "eos_token", "unk_token"] {
            tc.insert(k.to_string(), s("<|endoftext|>"));
            sm.insert(k.to_string(), s("<|endoftext|>"));
        }
    }
    vec![
        ("tokenizer.json".into(), bpe.json.clone()),
        ("tokenizer_config.json".into(), file(tc)),
        ("special_tokens_map.json".into(), file(sm)),
    ]
}

/// The size and blake3 hash of a file, read from a map a piece at a time, each piece's pages
/// released behind (hashing a many-GB file must not make it resident; reading it through a buffer
/// instead cost a copy of every byte).
pub fn hash_file(path: &std::path::Path) -> Result<(u64, String)> {
    const PIECE: usize = 16 << 20;
    let mut hasher = blake3::Hasher::new();
    let map = crate::torch::map_file(path)?;
    for (i, piece) in map.chunks(PIECE).enumerate() {
        hasher.update(piece);
        #[cfg(unix)]
        // SAFETY: a read-only file map; dropped pages are read again unchanged if touched.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, i * PIECE, piece.len()) };
    }
    Ok((map.len() as u64, hasher.finalize().to_hex().to_string()))
}

/// Where the folder came from: the source file and its blake3 hash.
fn provenance(model: &Model, (len, hash): (u64, String)) -> BTreeMap<String, J> {
    let mut p = BTreeMap::new();
    p.insert("tool".to_string(), s("rwkv-convert"));
    p.insert("tool_version".to_string(), s(env!("CARGO_PKG_VERSION")));
    p.insert("rwkv_version".to_string(), s(model.version.as_str()));
    p.insert(
        "source_file".to_string(),
        s(&model.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
    );
    p.insert("source_bytes".to_string(), J::Int(len as i64));
    p.insert("source_blake3".to_string(), s(&hash));
    p
}
