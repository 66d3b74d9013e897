//! The bodies of the fuzz targets. Each function takes arbitrary bytes and must return, never
//! panic, abort, hang or allocate without bound; `Err` carries the reader's message. The same file
//! is compiled into the root package's tests/error_catalogue.rs (through `#[path]`), which replays
//! every input under fuzz/regressions/TARGET/ through the function of that target.
//!
//! Besides "no panic", the functions check properties that hold for every input:
//! - every error of a file reader names the file (`Error::path` is set);
//! - tokenizer: decode(encode(x)) == x, and decoding fails exactly on ids outside the vocabulary;
//! - dequantize: a length that is not whole blocks is an error, whole blocks of a supported type
//!   always decode to block_size values per block.

#![allow(dead_code)]

use convert::torch::{FileKind, TorchCheckpoint};
use convert::{Error, Model, Tensor};
use memmap2::{Mmap, MmapMut};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `bytes` in an anonymous read-only map (what the readers take; no file involved).
pub fn map_bytes(bytes: &[u8]) -> Arc<Mmap> {
    let mut m = MmapMut::map_anon(bytes.len().max(1)).expect("anonymous map");
    m[..bytes.len()].copy_from_slice(bytes);
    Arc::new(m.make_read_only().expect("read-only map"))
}

/// A reader's error: it must name the file it is about.
fn named(e: Error) -> String {
    assert!(e.path.is_some(), "an error that names no file: {e}");
    e.to_string()
}

/// Read every tensor's bytes (the ranges the readers computed are inside the file) and widen the
/// small float ones.
fn touch(tensors: &[Tensor]) {
    for t in tensors {
        let bytes = t.bytes();
        assert_eq!(bytes.len(), t.data.len());
        assert_eq!(bytes.len(), t.numel() * t.dtype.size(), "tensor '{}': bytes and shape disagree", t.name);
        if t.dtype.is_float() && t.numel() <= 1 << 16 {
            let v = t.to_f32().expect("float tensors widen");
            assert_eq!(v.len(), t.numel());
        }
    }
}

/// `pickle`: the symbolic pickle machine, then the state-dict view of what it returned.
pub fn pickle(data: &[u8]) -> Result<(), String> {
    let parsed = convert::torch::pickle::parse(data).map_err(|e| e.to_string())?;
    assert!(parsed.len <= data.len(), "the machine read past its input");
    let _ = parsed.value.describe();
    let entries = convert::torch::state_dict_entries(&parsed.value).map_err(|e| e.to_string())?;
    for (name, t) in entries {
        assert_eq!(t.shape.len(), t.stride.len(), "{name}");
    }
    Ok(())
}

/// A torch checkpoint from memory as `rwkv-convert inspect --verify` reads it: container, CRC
/// check, tensor bytes, then the RWKV model (detection and validation).
fn torch(data: &[u8], kind: FileKind) -> Result<(), String> {
    if data.is_empty() || convert::torch::sniff(data) != kind {
        return Err("not this target's container".into());
    }
    let path = Path::new("fuzz.pth");
    let ckpt = TorchCheckpoint::from_map(path, map_bytes(data)).map_err(named)?;
    touch(&ckpt.tensors);
    let verified = ckpt.verify().map_err(named);
    let model = Model::from_torch(ckpt).map_err(named)?;
    touch(&model.tensors);
    verified.map(|_| ())
}

/// `torch_zip`: files that start with a zip signature.
pub fn torch_zip(data: &[u8]) -> Result<(), String> {
    torch(data, FileKind::TorchZip)
}

/// `torch_legacy`: files that start with torch's legacy magic number.
pub fn torch_legacy(data: &[u8]) -> Result<(), String> {
    torch(data, FileKind::TorchLegacy)
}

/// `gguf_reader`: the GGUF header, key-values and tensor records, then the model read back from
/// them (dequantizing quantized tensors), as `rwkv-convert inspect x.gguf` does.
pub fn gguf_reader(data: &[u8]) -> Result<(), String> {
    if data.is_empty() {
        return Err("empty".into());
    }
    let path = Path::new("fuzz.gguf");
    let f = convert::gguf::GgufFile::from_map(path, map_bytes(data)).map_err(|e| named(e.at(path)))?;
    for (_, v) in &f.kv {
        let _ = v.describe();
    }
    for t in &f.tensors {
        assert!(t.range.end <= f.map.len());
        let _ = (t.shape(), f.bytes(t).len());
    }
    let model = Model::from_gguf(&f).map_err(|e| named(e.at(path)))?;
    touch(&model.tensors);
    Ok(())
}

static FOLDERS: AtomicUsize = AtomicUsize::new(0);

/// `safetensors_header`: the bytes as the only `model.safetensors` of an HF folder (on tmpfs),
/// read as `rwkv-convert inspect FOLDER` does: header, offsets, name mapping, the model.
pub fn safetensors_header(data: &[u8]) -> Result<(), String> {
    let base = if Path::new("/dev/shm").is_dir() { Path::new("/dev/shm").to_path_buf() } else { std::env::temp_dir() };
    let dir = base.join(format!("rwkv-fuzz-st-{}-{}", std::process::id(), FOLDERS.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("a folder on tmpfs");
    std::fs::write(dir.join("model.safetensors"), data).expect("write to tmpfs");
    let result = Model::open(&dir).map(|m| touch(&m.tensors));
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(named)
}

/// `tokenizer`: the first byte picks what the rest is.
/// 0: bytes to encode; 1: text to encode (when UTF-8); 2: little-endian u32 ids to decode;
/// 3: a vocabulary file to parse, then its tokenizer on the vocabulary's own bytes.
pub fn tokenizer(data: &[u8]) -> Result<(), String> {
    use reference::tokenizer::WorldTokenizer;
    let t = WorldTokenizer::world();
    let Some((&mode, rest)) = data.split_first() else { return Ok(()) };
    match mode % 4 {
        0 => round_trip(t, rest),
        1 => {
            let s = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
            let ids = t.encode(s);
            assert_eq!(t.decode_bytes(&ids).expect("encoded ids decode"), s.as_bytes());
            assert_eq!(t.decode_lossy(&ids), s);
        }
        2 => {
            let ids: Vec<u32> = rest.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            let bad = ids.iter().any(|&id| id == 0 || id as usize >= t.len());
            let lossy = t.decode_lossy(&ids);
            match t.decode_bytes(&ids) {
                Ok(bytes) => {
                    assert!(!bad, "ids outside the vocabulary decoded");
                    assert_eq!(String::from_utf8_lossy(&bytes), lossy);
                    round_trip(t, &bytes);
                }
                Err(e) => {
                    assert!(bad, "valid ids refused: {e}");
                    return Err(e.to_string());
                }
            }
        }
        _ => {
            let own = WorldTokenizer::from_vocab(rest).map_err(|e| e.to_string())?;
            round_trip(&own, &rest[..rest.len().min(4096)]);
        }
    }
    Ok(())
}

fn round_trip(t: &reference::tokenizer::WorldTokenizer, bytes: &[u8]) {
    let ids = t.encode_bytes(bytes);
    assert!(ids.iter().all(|&id| id != 0 && (id as usize) < t.len()), "encode made an id outside the vocabulary");
    assert_eq!(t.decode_bytes(&ids).expect("encoded ids decode"), bytes, "decode(encode(x)) != x");
}

/// `dequantize`: the first byte is a ggml type id, the rest that type's bytes.
pub fn dequantize(data: &[u8]) -> Result<(), String> {
    use quantize::GgmlType;
    let Some((&id, bytes)) = data.split_first() else { return Ok(()) };
    let ty = GgmlType::from_id(u32::from(id) % 32).ok_or("no such ggml type")?;
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let result = quantize::dequantize(ty, bytes);
    if bytes.len() % ts != 0 {
        assert!(result.is_err(), "{} bytes of {ty} ({ts}-byte blocks) dequantized", bytes.len());
    } else if quantize::codec::is_supported(ty) {
        let values = result.as_ref().unwrap_or_else(|e| panic!("whole {ty} blocks refused: {e}"));
        assert_eq!(values.len(), bytes.len() / ts * bs);
    }
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// The function of a target by name (for the regression replay).
pub fn by_name(target: &str) -> Option<fn(&[u8]) -> Result<(), String>> {
    Some(match target {
        "pickle" => pickle,
        "torch_zip" => torch_zip,
        "torch_legacy" => torch_legacy,
        "safetensors_header" => safetensors_header,
        "gguf_reader" => gguf_reader,
        "tokenizer" => tokenizer,
        "dequantize" => dequantize,
        _ => return None,
    })
}

pub const TARGETS: &[&str] =
    &["pickle", "torch_zip", "torch_legacy", "safetensors_header", "gguf_reader", "tokenizer", "dequantize"];
