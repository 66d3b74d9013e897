//! Helpers the integration tests share (each test file that needs them says `mod common;`).
#![allow(dead_code)] // each test crate uses its own subset

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, in lowercase hex (as the fixture manifests write it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Our dtype name for a torch dtype name as the fixture scripts record it (`str(t.dtype)` less
/// its `torch.` prefix).
pub fn torch_dtype(torch: &str) -> &'static str {
    match torch {
        "float32" => "f32",
        "float16" => "f16",
        "bfloat16" => "bf16",
        "float64" => "f64",
        "int64" => "i64",
        "int32" => "i32",
        "int16" => "i16",
        "int8" => "i8",
        "uint8" => "u8",
        "bool" => "bool",
        other => panic!("unexpected dtype {other}"),
    }
}
