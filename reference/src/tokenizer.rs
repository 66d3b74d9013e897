//! The RWKV World tokenizer: greedy longest match over the bytes of the text, against the 65,529
//! tokens of `rwkv_vocab_v20230424.txt` (shipped in `reference/vocab/`, Apache-2.0). Id 0 is not a
//! token; models use it as the document separator.

use std::sync::OnceLock;

/// The vocabulary file, byte for byte as the `rwkv` 0.8.32 wheel ships it (CRLF line ends).
pub const WORLD_VOCAB: &[u8] = include_bytes!("../vocab/rwkv_vocab_v20230424.txt");

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
        WORLD.get_or_init(|| WorldTokenizer::from_vocab(WORLD_VOCAB).expect("the shipped vocabulary parses"))
    }

    /// Parse a vocabulary in the `<id> <python literal> <byte length>` format.
    pub fn from_vocab(text: &[u8]) -> Result<WorldTokenizer, TokenizerError> {
        let mut tokens: Vec<Vec<u8>> = vec![Vec::new()];
        let mut trie = Trie::new();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let err = |what: &str| TokenizerError(format!("vocabulary line {}: {what}", n + 1));
            // The literal may contain spaces: split at the first and the last space.
            let first = line.iter().position(|&b| b == b' ').ok_or_else(|| err("no space"))?;
            let last = line.iter().rposition(|&b| b == b' ').ok_or_else(|| err("no space"))?;
            if last <= first {
                return Err(err("expected `<id> <literal> <length>`"));
            }
            let id: usize = parse_num(&line[..first]).ok_or_else(|| err("bad id"))?;
            let len: usize = parse_num(&line[last + 1..]).ok_or_else(|| err("bad length"))?;
            let bytes = parse_literal(&line[first + 1..last]).map_err(|e| err(&e))?;
            if bytes.len() != len {
                return Err(err(&format!("token has {} bytes, the line says {len}", bytes.len())));
            }
            if id != tokens.len() {
                return Err(err(&format!("id {id} out of order (expected {})", tokens.len())));
            }
            trie.insert(&bytes, id as u32);
            tokens.push(bytes);
        }
        Ok(WorldTokenizer { tokens, trie })
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

fn parse_num(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A Python `str` or `bytes` literal. In a str, `\xNN` and `\uNNNN` are code points (encoded as
/// UTF-8); in bytes, `\xNN` is a raw byte.
fn parse_literal(lit: &[u8]) -> Result<Vec<u8>, String> {
    let (is_bytes, rest) = match lit.first() {
        Some(b'b') => (true, &lit[1..]),
        _ => (false, lit),
    };
    let quote = *rest.first().ok_or("empty literal")?;
    if !(quote == b'\'' || quote == b'"') || rest.len() < 2 || rest[rest.len() - 1] != quote {
        return Err(format!("not a quoted literal: {}", String::from_utf8_lossy(lit)));
    }
    let body = &rest[1..rest.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let push_char = |out: &mut Vec<u8>, cp: u32| -> Result<(), String> {
        let c = char::from_u32(cp).ok_or(format!("bad code point {cp:#x}"))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    };
    let hex = |s: &[u8]| -> Result<u32, String> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or(format!("bad escape {:?}", String::from_utf8_lossy(s)))
    };
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let e = *body.get(i + 1).ok_or("dangling backslash")?;
        i += 2;
        let simple = match e {
            b'\\' => Some(b'\\'),
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'v' => Some(0x0b),
            b'0' => Some(0),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let digits = match e {
            b'x' => 2,
            b'u' if !is_bytes => 4,
            b'U' if !is_bytes => 8,
            _ => return Err(format!("unsupported escape \\{}", e as char)),
        };
        let v = hex(body.get(i..i + digits).ok_or("short escape")?)?;
        i += digits;
        if is_bytes {
            out.push(v as u8);
        } else {
            push_char(&mut out, v)?;
        }
    }
    Ok(out)
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
