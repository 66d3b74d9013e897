//! The RWKV World vocabulary (`rwkv_vocab_v20230424.txt`, shipped in `convert/vocab/`, Apache-2.0):
//! 65,529 tokens, ids 1..65529; id 0 is not a token (models use it as the document separator).

use std::sync::OnceLock;

/// The vocabulary file, byte for byte as the `rwkv` 0.8.32 wheel ships it (CRLF line ends).
pub const WORLD_VOCAB: &[u8] = include_bytes!("../../vocab/rwkv_vocab_v20230424.txt");

/// The World tokens' bytes by id; index 0 is empty.
pub fn world() -> &'static [Vec<u8>] {
    static WORLD: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    WORLD.get_or_init(|| parse(WORLD_VOCAB).expect("the shipped vocabulary parses"))
}

/// Parse a vocabulary in the `<id> <python literal> <byte length>` format; index 0 stays empty.
pub fn parse(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens: Vec<Vec<u8>> = vec![Vec::new()];
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let err = |what: &str| format!("vocabulary line {}: {what}", n + 1);
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
        tokens.push(bytes);
    }
    Ok(tokens)
}

/// The token's text as llama.cpp's converter stores it: Python's `repr(bytes)` without the `b`
/// and the quotes (printable ASCII as is, `\\`, `\t`, `\n`, `\r`, other bytes as lowercase `\xhh`,
/// and the quote rules of `repr`).
pub fn python_bytes_repr_inner(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') { b'"' } else { b'\'' };
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            _ if b == quote => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
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
    fn python_repr_of_bytes() {
        assert_eq!(python_bytes_repr_inner(b"a b"), "a b");
        assert_eq!(python_bytes_repr_inner(b"it's"), "it's");
        assert_eq!(python_bytes_repr_inner(b"'\""), "\\'\"");
        assert_eq!(python_bytes_repr_inner(b"\n\t\\\x80\xff\x00"), "\\n\\t\\\\\\x80\\xff\\x00");
        assert_eq!(world().len(), 65530);
    }
}
