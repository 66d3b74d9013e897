//! The RWKV World tokenizer: greedy longest match over the bytes of the text, against the 65,529
//! tokens of `rwkv_vocab_v20230424.txt` (shipped in `convert/vocab/`, Apache-2.0). Id 0 is not a
//! token; models use it as the document separator.

use std::sync::OnceLock;

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
        static WORLD: OnceLock<WorldTokenizer> = OnceLock::new();
        WORLD.get_or_init(|| WorldTokenizer::from_tokens(convert::vocab::world().to_vec()))
    }

    /// World's single-byte tokens only (ids 1–256 are the bytes 0x00–0xff): a valid, if long,
    /// World tokenization that any model with at least 257 vocabulary rows can run.
    pub fn world_bytes() -> &'static WorldTokenizer {
        static BYTES: OnceLock<WorldTokenizer> = OnceLock::new();
        BYTES.get_or_init(|| WorldTokenizer::from_tokens(convert::vocab::world()[..257].to_vec()))
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

/// The GPT-NeoX-20B BPE tokenizer (RWKV-4 Pile models, vocabulary 50277), run by Hugging Face's
/// `tokenizers` on the shipped JSON ([`convert::vocab::NEOX_TOKENIZER_JSON`]). No special tokens
/// are added: the evaluation prepends id 0 itself, as for World. Text is NFC-normalised first (the
/// file's normaliser), so decoding gives back the NFC form of what was encoded.
pub struct NeoxTokenizer(tokenizers::Tokenizer);

impl NeoxTokenizer {
    /// The shipped tokenizer, parsed once.
    pub fn neox() -> &'static NeoxTokenizer {
        static NEOX: std::sync::OnceLock<NeoxTokenizer> = std::sync::OnceLock::new();
        NEOX.get_or_init(|| {
            let t = tokenizers::Tokenizer::from_bytes(convert::vocab::NEOX_TOKENIZER_JSON)
                .expect("the shipped GPT-NeoX-20B tokenizer parses");
            NeoxTokenizer(t)
        })
    }

    /// Token count, added tokens included (50277).
    pub fn len(&self) -> usize {
        self.0.get_vocab_size(true)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let e = self.0.encode(text, false).map_err(|e| TokenizerError(e.to_string()))?;
        Ok(e.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.0.decode(ids, false).map_err(|e| TokenizerError(e.to_string()))
    }
}
