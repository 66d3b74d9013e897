//! The RWKV World tokenizer: greedy longest match over the bytes of the text, against the 65,529
//! tokens of `rwkv_vocab_v20230424.txt` (shipped in `convert/vocab/`, Apache-2.0). Id 0 is not a
//! token; models use it as the document separator.

use convert::vocab::{BpeVocab, TokenKind, Vocab};
use std::sync::{Arc, OnceLock};

pub use convert::vocab::WORLD_VOCAB;

pub struct WorldTokenizer {
    /// Token bytes by id; index 0 (the separator) is empty.
    tokens: Vec<Vec<u8>>,
    trie: Trie,
}

/// A byte trie: node children sorted by byte, found by binary search.
struct Trie {
    children: Vec<Vec<(u8, u32)>>,
    token: Vec<Option<u32>>,
}

impl Trie {
    fn new() -> Trie {
        Trie { children: vec![Vec::new()], token: vec![None] }
    }
    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        let c = &self.children[node];
        c.binary_search_by_key(&byte, |&(b, _)| b).ok().map(|i| c[i].1 as usize)
    }
    fn insert(&mut self, bytes: &[u8], id: u32) {
        let mut node = 0;
        for &b in bytes {
            node = match self.child(node, b) {
                Some(n) => n,
                None => {
                    let n = self.children.len();
                    self.children.push(Vec::new());
                    self.token.push(None);
                    let c = &mut self.children[node];
                    let at = c.partition_point(|&(x, _)| x < b);
                    c.insert(at, (b, n as u32));
                    n
                }
            };
        }
        self.token[node] = Some(id);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizerError(pub String);

impl std::fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenizerError {}

impl WorldTokenizer {
    /// The shipped World vocabulary (parsed once per process).
    pub fn world() -> &'static WorldTokenizer {
        Self::world_arc()
    }

    /// The same, shared.
    pub fn shared() -> Arc<WorldTokenizer> {
        Self::world_arc().clone()
    }

    fn world_arc() -> &'static Arc<WorldTokenizer> {
        static WORLD: OnceLock<Arc<WorldTokenizer>> = OnceLock::new();
        WORLD.get_or_init(|| Arc::new(WorldTokenizer::from_tokens(convert::vocab::world().to_vec())))
    }

    /// World's first `rows` ids (at least 257: the separator and the 256 single bytes), for a
    /// test model with fewer rows than World has: what llama.cpp does with World's vocabulary
    /// file cut to the model.
    pub fn world_cut(rows: usize) -> WorldTokenizer {
        let world = convert::vocab::world();
        WorldTokenizer::from_tokens(world[..rows.clamp(257, world.len())].to_vec())
    }

    /// Parse a vocabulary in the `<id> <python literal> <byte length>` format.
    /// Greedy matching needs every single byte to be a token (World's ids 1–256), so that any
    /// input encodes; a vocabulary without them is refused here rather than panicking in encode.
    pub fn from_vocab(text: &[u8]) -> Result<WorldTokenizer, TokenizerError> {
        let tokens = convert::vocab::parse(text).map_err(TokenizerError)?;
        let mut single = [false; 256];
        for t in tokens.iter().filter(|t| t.len() == 1) {
            single[t[0] as usize] = true;
        }
        if let Some(b) = single.iter().position(|&s| !s) {
            return Err(TokenizerError(format!(
                "the vocabulary has no token for the single byte 0x{b:02x}; every byte must be a token \
                 so that any text can be encoded"
            )));
        }
        Ok(Self::from_tokens(tokens))
    }

    /// A tokenizer over token byte strings by id (index 0, the separator, is empty). Every single
    /// byte must be one of the tokens (as in World, and as [`Self::from_vocab`] checks): encoding
    /// relies on it.
    pub fn from_tokens(tokens: Vec<Vec<u8>>) -> WorldTokenizer {
        let mut trie = Trie::new();
        for (id, bytes) in tokens.iter().enumerate().skip(1) {
            trie.insert(bytes, id as u32);
        }
        WorldTokenizer { tokens, trie }
    }

    /// The number of ids, including the separator 0.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.len() <= 1
    }

    /// The bytes of a token (empty for 0 and out-of-range ids).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.tokens.get(id as usize).map(|t| t.as_slice()).unwrap_or(&[])
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_bytes(text.as_bytes())
    }

    /// Greedy longest match; every single byte is a token, so this never fails.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(bytes.len() / 3 + 1);
        let mut i = 0;
        while i < bytes.len() {
            let (mut node, mut best) = (0usize, None);
            let mut j = i;
            while j < bytes.len() {
                match self.trie.child(node, bytes[j]) {
                    Some(n) => node = n,
                    None => break,
                }
                j += 1;
                if let Some(t) = self.trie.token[node] {
                    best = Some((t, j));
                }
            }
            let (t, end) = best.expect("every byte is a token");
            out.push(t);
            i = end;
        }
        out
    }

    /// The exact bytes of a token sequence (lossless; may be invalid UTF-8 mid-character).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::new();
        for &id in ids {
            if id == 0 || id as usize >= self.tokens.len() {
                return Err(TokenizerError(format!("id {id} is not a token of the vocabulary")));
            }
            out.extend_from_slice(&self.tokens[id as usize]);
        }
        Ok(out)
    }

    /// Decode to text, replacing invalid UTF-8 with U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_examples() {
        let t = WorldTokenizer::world();
        assert_eq!(t.len(), 65530);
        assert_eq!(t.encode("Hello world"), vec![33155, 40213]);
        assert_eq!(
            t.encode("\n\nUser: 你好\n\nAssistant:"),
            vec![261, 24281, 59, 33, 10464, 11685, 261, 5585, 41693, 59]
        );
        assert_eq!(t.encode("\x00abc"), vec![1, 6891]);
        assert_eq!(t.token_bytes(2423), "\u{80}".as_bytes());
        assert!(t.decode_bytes(&[0]).is_err());
    }
}

/// A byte-level BPE tokenizer (GPT-NeoX-20B's for the RWKV-4 Pile models), run by Hugging
/// Face's `tokenizers` on the vocabulary's JSON. No special tokens are added: the evaluation
/// prepends id 0 itself, as for World. GPT-NeoX-20B's JSON normalises text to NFC first, so
/// decoding gives back the NFC form of what was encoded.
pub struct BpeTokenizer {
    inner: tokenizers::Tokenizer,
    /// Each token's bytes, for streaming output a token at a time.
    bytes: Vec<Vec<u8>>,
}

impl BpeTokenizer {
    /// The shipped GPT-NeoX-20B tokenizer, parsed once.
    pub fn neox() -> Arc<BpeTokenizer> {
        static NEOX: OnceLock<Arc<BpeTokenizer>> = OnceLock::new();
        NEOX.get_or_init(|| {
            let convert::vocab::Vocab::Bpe(v) = convert::vocab::Vocab::neox() else { unreachable!("BPE") };
            Arc::new(BpeTokenizer::new(&v).expect("the shipped GPT-NeoX-20B tokenizer parses"))
        })
        .clone()
    }

    pub fn new(vocab: &BpeVocab) -> Result<BpeTokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(&vocab.json)
            .map_err(|e| TokenizerError(format!("{}: {e}", vocab.name)))?;
        let bytes = vocab
            .tokens
            .iter()
            .zip(&vocab.kinds)
            .map(|(t, k)| match k {
                TokenKind::Normal => byte_level_bytes(t),
                _ => t.as_bytes().to_vec(),
            })
            .collect();
        Ok(BpeTokenizer { inner, bytes })
    }

    /// Token count, added tokens included (50277 for GPT-NeoX-20B).
    pub fn len(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let e = self.inner.encode(text, false).map_err(|e| TokenizerError(e.to_string()))?;
        Ok(e.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, false).map_err(|e| TokenizerError(e.to_string()))
    }

    /// The bytes a token stands for (empty for ids beyond the vocabulary).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The bytes of a byte-level token (`Ġthe` → ` the`): GPT-2's map of the 256 bytes to printable
/// characters, undone. A token with a character outside the map is taken as plain text, as the
/// `ByteLevel` decoder of `tokenizers` does.
fn byte_level_bytes(token: &str) -> Vec<u8> {
    static TABLE: OnceLock<std::collections::HashMap<char, u8>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // Printable bytes stand for themselves; the others are shifted past U+0100 in order.
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        let mut next = 256u32;
        (0..=255u8)
            .map(|b| {
                let c = if printable(b) {
                    b as u32
                } else {
                    next += 1;
                    next - 1
                };
                (char::from_u32(c).expect("below U+0200"), b)
            })
            .collect()
    });
    token
        .chars()
        .map(|c| table.get(&c).copied())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// The tokenizer text is encoded with for a model: World (cut to a test model's rows) or a
/// byte-level BPE.
#[derive(Clone)]
pub enum TextTokenizer {
    World(Arc<WorldTokenizer>),
    Bpe(Arc<BpeTokenizer>),
}

impl TextTokenizer {
    /// The tokenizer for `vocab` on a model of `rows` rows (checked to fit by the caller).
    pub fn new(vocab: &Vocab, rows: usize) -> Result<TextTokenizer, TokenizerError> {
        if vocab.is_world() && rows < 257 {
            return Err(TokenizerError(format!(
                "World text needs at least 257 vocabulary rows (id 0 and the 256 single bytes); the model has {rows}"
            )));
        }
        Ok(match vocab {
            Vocab::World if rows >= WorldTokenizer::world().len() => TextTokenizer::World(WorldTokenizer::shared()),
            Vocab::World => TextTokenizer::World(Arc::new(WorldTokenizer::world_cut(rows))),
            Vocab::Bpe(_) if vocab.is_neox() => TextTokenizer::Bpe(BpeTokenizer::neox()),
            Vocab::Bpe(v) => TextTokenizer::Bpe(Arc::new(BpeTokenizer::new(v)?)),
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        match self {
            TextTokenizer::World(w) => Ok(w.encode(text)),
            TextTokenizer::Bpe(b) => b.encode(text),
        }
    }

    pub fn token_bytes(&self, id: u32) -> &[u8] {
        match self {
            TextTokenizer::World(w) => w.token_bytes(id),
            TextTokenizer::Bpe(b) => b.token_bytes(id),
        }
    }

    /// Decode to text, replacing invalid UTF-8 with U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
