//! Byte-level BPE vocabularies in Hugging Face `tokenizers` JSON, such as the GPT-NeoX-20B
//! tokenizer of the RWKV-4 Pile models: what the writers need of them (the token text by id,
//! which tokens were added and which are special, the merges), read without running BPE.
//! Encoding text is the engine's job (`reference::tokenizer`).

use serde_json::Value;

/// How a token entered the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Learned by BPE: its text is byte-level characters (`Ġthe`).
    Normal,
    /// An added token that is not special (GPT-NeoX's runs of spaces): its text is plain text.
    Added,
    /// An added special token (`<|endoftext|>`).
    Special,
    /// An id the file does not define (a gap): llama.cpp's converter writes `[PAD{id}]`.
    Missing,
}

pub struct BpeVocab {
    /// What to call it in messages and model cards: "GPT-NeoX-20B" or the file it came from.
    pub name: String,
    /// The JSON as read; HF folders carry it as `tokenizer.json`.
    pub json: Vec<u8>,
    /// Token text by id: byte-level characters for learned tokens, the content for added ones.
    pub tokens: Vec<String>,
    pub kinds: Vec<TokenKind>,
    /// The merges as `"left right"`, in rank order.
    pub merges: Vec<String>,
}

impl BpeVocab {
    /// Read a `tokenizer.json`; `name` is kept for messages.
    pub fn parse(name: &str, json: Vec<u8>) -> Result<BpeVocab, String> {
        let v: Value = serde_json::from_slice(&json).map_err(|e| format!("not a tokenizer JSON: {e}"))?;
        let model = &v["model"];
        if model["type"].as_str() != Some("BPE") {
            return Err(format!("its model is {}, not BPE", model["type"]));
        }
        // Byte-level tokens are what llama.cpp's `gpt2` tokenizer model and our byte table assume.
        if v["decoder"]["type"].as_str() != Some("ByteLevel") {
            return Err(format!("its decoder is {}, not ByteLevel (a byte-level BPE)", v["decoder"]["type"]));
        }
        let vocab = model["vocab"].as_object().ok_or("model.vocab is not a map")?;
        let added = v["added_tokens"].as_array().map(Vec::as_slice).unwrap_or_default();
        let mut entries: Vec<(usize, String, TokenKind)> = Vec::with_capacity(vocab.len() + added.len());
        for (text, id) in vocab {
            let id = id.as_u64().ok_or_else(|| format!("token {text:?} has no integer id"))?;
            entries.push((id as usize, text.clone(), TokenKind::Normal));
        }
        for a in added {
            let id = a["id"].as_u64().ok_or("an added token has no integer id")? as usize;
            let text = a["content"].as_str().ok_or("an added token has no content")?.to_string();
            let kind = if a["special"].as_bool() == Some(true) { TokenKind::Special } else { TokenKind::Added };
            entries.push((id, text, kind));
        }
        let n = entries.iter().map(|e| e.0 + 1).max().unwrap_or(0);
        if n > 1 << 24 {
            return Err(format!("a token id of {} is beyond any vocabulary", n - 1));
        }
        let mut tokens: Vec<String> = (0..n).map(|i| format!("[PAD{i}]")).collect();
        let mut kinds = vec![TokenKind::Missing; n];
        // Added tokens come last, so they win where an id is in both lists (as in `tokenizers`).
        for (id, text, kind) in entries {
            tokens[id] = text;
            kinds[id] = kind;
        }
        let merges = model["merges"]
            .as_array()
            .ok_or("model.merges is not a list")?
            .iter()
            .map(|m| match m {
                Value::String(s) => Ok(s.clone()),
                Value::Array(p) if p.len() == 2 && p.iter().all(Value::is_string) => {
                    Ok(format!("{} {}", p[0].as_str().unwrap_or_default(), p[1].as_str().unwrap_or_default()))
                }
                other => Err(format!("a merge is neither \"a b\" nor [a, b]: {other}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BpeVocab { name: name.to_string(), json, tokens, kinds, merges })
    }

    /// Ids 0..len are defined (gaps as `[PAD{id}]`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Same tokens, kinds and merges: the same tokenizer for every purpose of this tool, whatever
    /// the JSON's formatting (`save_pretrained` rewrites it).
    pub fn same_vocabulary(&self, other: &BpeVocab) -> bool {
        self.tokens == other.tokens && self.kinds == other.kinds && self.merges == other.merges
    }

    /// The token list and token types for a model with `rows` rows, as llama.cpp's converter
    /// writes them (`get_vocab_base`): special added tokens, and added ones that look special,
    /// CONTROL (3); other added tokens USER_DEFINED (4); learned tokens NORMAL (1); ids the
    /// vocabulary lacks `[PAD{id}]`, UNUSED (5).
    pub fn gguf_tokens(&self, rows: usize) -> (Vec<String>, Vec<i32>) {
        (0..rows)
            .map(|id| match self.kinds.get(id) {
                Some(TokenKind::Normal) => (self.tokens[id].clone(), 1),
                Some(TokenKind::Special) => (self.tokens[id].clone(), 3),
                Some(TokenKind::Added) if looks_special(&self.tokens[id]) => (self.tokens[id].clone(), 3),
                Some(TokenKind::Added) => (self.tokens[id].clone(), 4),
                Some(TokenKind::Missing) | None => (format!("[PAD{id}]"), 5),
            })
            .unzip()
    }
}

/// llama.cpp's converter (`does_token_look_special`): added tokens some models fail to mark special.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neox_file() {
        let v = BpeVocab::parse("GPT-NeoX-20B", super::super::NEOX_TOKENIZER_JSON.to_vec()).unwrap();
        assert_eq!(v.len(), 50277);
        assert_eq!(v.merges.len(), 50009);
        assert_eq!(v.merges[0], "Ġ Ġ");
        assert_eq!((v.tokens[0].as_str(), v.kinds[0]), ("<|endoftext|>", TokenKind::Special));
        assert_eq!((v.tokens[50276].as_str(), v.kinds[50276]), ("  ", TokenKind::Added));
        let (tokens, types) = v.gguf_tokens(50304);
        assert_eq!((types[0], types[1], types[2], types[50254], types[50277]), (3, 3, 1, 4, 5));
        assert_eq!(tokens[50303], "[PAD50303]");
    }

    #[test]
    fn refuses_what_is_not_byte_level_bpe() {
        let wp = br#"{"model":{"type":"WordPiece","vocab":{}},"decoder":{"type":"WordPiece"}}"#.to_vec();
        assert!(BpeVocab::parse("x", wp).err().unwrap().contains("not BPE"));
        let bad = br#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"Metaspace"}}"#.to_vec();
        assert!(BpeVocab::parse("x", bad).err().unwrap().contains("ByteLevel"));
    }
}
