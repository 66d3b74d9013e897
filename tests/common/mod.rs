//! Helpers the integration tests share (each test file that needs them says `mod common;`).
#![allow(dead_code)] // each test crate uses its own subset

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, in lowercase hex (as the fixture manifests write it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Token ids from a JSON array (the tokenizer goldens).
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().expect("an array of ids").iter().map(|x| x.as_u64().expect("an id") as u32).collect()
}

/// The first 16 hex digits of the SHA-256 of `ids` packed as little-endian u32 (how the
/// tokenizer goldens record long id lists).
pub fn ids_hash16(ids: &[u32]) -> String {
    let packed: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    sha256_hex(&packed)[..16].to_string()
}

/// The golden/tokenizer folder and one of its JSON files, parsed.
pub fn tokenizer_golden(file: &str) -> (std::path::PathBuf, serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/tokenizer");
    let text = std::fs::read_to_string(dir.join(file)).expect("the golden file");
    (dir, serde_json::from_str(&text).expect("JSON"))
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

/// `tensors` are the ones a fixture manifest lists, in order: names, dtypes, shapes and the
/// SHA-256 of their bytes (`{name, dtype, shape, sha256}` objects, as the torch scripts write them).
pub fn assert_tensors_as_listed(file: &str, tensors: &[convert::Tensor], want: &[serde_json::Value]) {
    assert_eq!(tensors.len(), want.len(), "{file}");
    for (t, w) in tensors.iter().zip(want) {
        assert_eq!(t.name, w["name"].as_str().unwrap(), "{file}: order");
        assert_eq!(t.dtype.name(), torch_dtype(w["dtype"].as_str().unwrap()), "{file} {}", t.name);
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{file} {}", t.name);
        assert_eq!(sha256_hex(t.bytes()), w["sha256"].as_str().unwrap(), "{file} {}: values differ", t.name);
    }
}

/// The golden test models have 512 vocabulary rows, which is no released vocabulary, so
/// text and tokenizer data need a choice: World's first 512 ids, as llama.cpp's golden
/// conversions were given (golden/gguf/README.md). Opens `path` with that choice when the
/// model has no tokenizer of its own or by size.
pub fn open_test_model(path: &std::path::Path) -> convert::Model {
    let mut model = convert::Model::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if model.tokenizer().is_err() {
        model.set_vocab(convert::vocab::Vocab::World).expect("512 rows take World's first ids");
    }
    model
}

/// `args` for the binary, with `--tokenizer world` appended for the subcommands that take it
/// (see [`open_test_model`] for why the golden test models need it).
pub fn with_test_tokenizer<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    let sub = out.iter().find(|a| !a.to_string_lossy().starts_with('-') && a.to_string_lossy().parse::<u32>().is_err());
    let takes = ["convert", "release", "imatrix", "run", "eval", "verify", "logits", "bench"];
    let manifest = out.iter().any(|a| a == "--manifest" || a == "--list");
    if sub.is_some_and(|s| takes.iter().any(|t| s == t)) && !manifest && !out.iter().any(|a| a == "--tokenizer") {
        out.extend(["--tokenizer".into(), "world".into()]);
    }
    out
}
