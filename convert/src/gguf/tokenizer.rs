//! The tokenizer in a GGUF, both ways, as llama.cpp's converter writes it: World as its `rwkv`
//! tokenizer model (`_set_vocab_rwkv_world`), byte-level BPE as `gpt2` with merges
//! (`_set_vocab_gpt2`, whose pre-tokenizer check names GPT-NeoX-20B's `olmo`).

use super::{GgufFile, Value};
use crate::vocab::{self, SourceVocab, Vocab};

/// llama.cpp's RWKV World chat template (`models/templates/llama-cpp-rwkv-world.jinja`, MIT),
/// which its converter embeds in every RWKV World GGUF. Carried over verbatim as data.
pub const CHAT_TEMPLATE: &str = include_str!("rwkv-world.jinja");
/// The `"\n\n"` token, which ends a turn in World chat.
pub const EOT_TOKEN: u32 = 261;
/// The pre-tokenizer llama.cpp's converter names for GPT-NeoX-20B's tokenizer: its check hash
/// (`get_vocab_base_pre`) is that of MPT-7B and OLMo-1.7, which use this tokenizer; the function
/// is a chain of plain `if`s, so the last, `olmo`, is what it returns (golden/neox/expected.json,
/// `gguf_pre`). llama.cpp runs `olmo` and `mpt` with the same regex.
pub const NEOX_PRE: &str = "olmo";

/// The tokenizer key-values for a model of `rows` rows.
pub fn key_values(vocab: &Vocab, rows: usize) -> Vec<(String, Value)> {
    match vocab {
        Vocab::World => world(rows),
        Vocab::Bpe(bpe) => {
            let (tokens, types) = bpe.gguf_tokens(rows);
            let mut kv = vec![("tokenizer.ggml.model".into(), Value::Str("gpt2".into()))];
            if vocab.is_neox() {
                kv.push(("tokenizer.ggml.pre".into(), Value::Str(NEOX_PRE.into())));
            }
            kv.extend([
                ("tokenizer.ggml.tokens".into(), Value::strings(tokens)),
                ("tokenizer.ggml.token_type".into(), Value::Array(5, types.into_iter().map(Value::I32).collect())),
                ("tokenizer.ggml.merges".into(), Value::strings(bpe.merges.iter().cloned())),
            ]);
            // GPT-NeoX-20B's `<|endoftext|>` (id 0) is bos, eos and unk, as its tokenizer_config says.
            if let Some(end) = bpe.tokens.iter().position(|t| t == "<|endoftext|>") {
                for key in ["bos_token_id", "eos_token_id", "unknown_token_id"] {
                    kv.push((format!("tokenizer.ggml.{key}"), Value::U32(end as u32)));
                }
            }
            kv
        }
    }
}

/// The World vocabulary: token 0 `<s>` (control), the vocabulary file's tokens as
/// `repr(bytes)[2:-1]`, `[PAD{i}]` (unused) up to the model's rows.
fn world(rows: usize) -> Vec<(String, Value)> {
    let (tokens, types) = world_tokens(rows);
    vec![
        ("tokenizer.ggml.model".into(), Value::Str("rwkv".into())),
        ("tokenizer.ggml.tokens".into(), Value::strings(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(5, types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.eot_token_id".into(), Value::U32(EOT_TOKEN)),
        ("tokenizer.chat_template".into(), Value::Str(CHAT_TEMPLATE.into())),
    ]
}

fn world_tokens(rows: usize) -> (Vec<String>, Vec<i32>) {
    let world = vocab::world();
    let mut tokens = vec!["<s>".to_string()];
    let mut types = vec![3];
    // A model with fewer rows than the World vocabulary gets its first rows' tokens (what
    // llama.cpp's converter makes of a vocabulary file cut to the model).
    for t in &world[1..world.len().min(rows.max(1))] {
        tokens.push(vocab::python_bytes_repr_inner(t));
        types.push(1);
    }
    // `[PAD{id}]`, named by token id as llama.cpp's `_set_vocab_rwkv_world` does
    // (`for i in range(len(tokens), vocab_size)`): World's 65530 ids pad to 65536 with
    // `[PAD65530]` … `[PAD65535]`.
    for i in tokens.len()..rows {
        tokens.push(format!("[PAD{i}]"));
        types.push(5);
    }
    (tokens, types)
}

/// What a GGUF says about its tokenizer: World or GPT-NeoX-20B when its tokens (and merges) are
/// exactly what [`key_values`] writes for them, else unknown.
pub fn read(f: &GgufFile) -> SourceVocab {
    let Some(model) = f.get("tokenizer.ggml.model").and_then(Value::as_str) else {
        return SourceVocab::None;
    };
    let strings = |key: &str| -> Vec<&str> {
        match f.get(key) {
            Some(Value::Array(_, items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let rows = tokens.len();
    let known = match model {
        "rwkv" => (world_tokens(rows).0 == tokens).then_some(Vocab::World),
        "gpt2" => {
            let neox = Vocab::neox();
            let Vocab::Bpe(bpe) = &neox else { unreachable!("neox is BPE") };
            (bpe.len() <= rows && bpe.gguf_tokens(rows).0 == tokens && bpe.merges == strings("tokenizer.ggml.merges"))
                .then_some(neox.clone())
        }
        _ => None,
    };
    match known {
        Some(v) => SourceVocab::Known(v),
        None => SourceVocab::Unknown(format!("tokenizer.ggml.model {model:?} with {rows} tokens")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(v: usize) -> Vec<String> {
        world_tokens(v).0
    }

    /// llama.cpp names padding rows by their token id (`convert_hf_to_gguf.py`,
    /// `_set_vocab_rwkv_world`); the 191M release benchmark compares whole files with its output.
    #[test]
    fn padding_rows_are_named_by_token_id() {
        let world = vocab::world().len();
        let t = tokens(65536);
        assert_eq!(t.len(), 65536);
        assert_eq!(t[world], format!("[PAD{world}]"));
        assert_eq!(t.last().unwrap(), "[PAD65535]");
        assert_eq!(t[0], "<s>");
        let small = tokens(512);
        assert_eq!(small.len(), 512);
        assert!(!small.iter().any(|s| s.starts_with("[PAD")));
    }
}
