//! The engine commands end to end: `logits` in both modes against the official package, state
//! carried across two calls through a file, and refusals.

use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
}

fn read(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn tokens() -> Vec<u64> {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(golden("manifest.json")).unwrap()).unwrap();
    m["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect()
}

fn join(t: &[u64]) -> String {
    t.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn logits_command_matches_the_official_package_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, key) in [("sequence", "logits_seq"), ("token", "logits_tok")] {
        let out = dir.path().join(format!("{mode}.safetensors"));
        let st = bin()
            .args(["logits"])
            .arg(golden("v6-bf16.pth"))
            .args(["--tokens", &join(&tokens()), "--mode", mode, "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let d = max_diff(&read(&out, "logits"), &read(&golden("v6-bf16.official.safetensors"), key));
        assert!(d <= 1e-4, "{mode}: {d}");
    }
}

#[test]
fn state_saved_by_one_call_continues_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let t = tokens();
    let (a, b) = t.split_at(10);
    let first = dir.path().join("first.safetensors");
    let second = dir.path().join("second.safetensors");
    let model = golden("v7-bf16.pth");
    assert!(bin()
        .arg("logits")
        .arg(&model)
        .args(["--tokens", &join(a), "--out"])
        .arg(&first)
        .status()
        .unwrap()
        .success());
    assert!(bin()
        .arg("logits")
        .arg(&model)
        .args(["--tokens", &join(b), "--state"])
        .arg(&first)
        .arg("--out")
        .arg(&second)
        .status()
        .unwrap()
        .success());
    let official = read(&golden("v7-bf16.official.safetensors"), "logits_seq");
    let vocab = official.len() / t.len();
    let d = max_diff(&read(&second, "logits"), &official[a.len() * vocab..]);
    assert!(d <= 1e-4, "continuing from a saved state: {d}");
}

#[test]
fn outputs_are_not_overwritten_and_bad_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    std::fs::write(&out, b"keep me").unwrap();
    let o =
        bin().arg("logits").arg(golden("v4-bf16.pth")).args(["--tokens", "0,1", "--out"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = bin()
        .arg("logits")
        .arg(golden("v4-bf16.pth"))
        .args(["--tokens", "0,512", "--force", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("token id 512"));
    // A tiny model's 512 rows are no released vocabulary: text needs --tokenizer, and one that
    // does not fit is refused.
    let o = bin().arg("run").arg(golden("v7-bf16.pth")).args(["--prompt", "hi"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("512 rows") && err.contains("--tokenizer"), "{err}");
    let o =
        bin().arg("run").arg(golden("v7-bf16.pth")).args(["--prompt", "hi", "--tokenizer", "neox"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("50277 ids but the model only 512 rows"));
    let o = bin()
        .arg("run")
        .arg(golden("v7-bf16.pth"))
        .args(["--prompt", "hi", "--tokenizer", "world", "--max-tokens", "3", "--temperature", "0"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `bench --json` on every container: the figures a script reads, positive, and the weight bytes
/// per token are the model's bytes less all but one row of the embedding.
#[test]
fn bench_reports_speed_bandwidth_and_memory_as_json() {
    for file in ["v7-bf16.pth", "v4-bf16-legacy.pth", "v6-bf16.pth"] {
        let o = bin()
            .args([
                "bench",
                golden(file).to_str().unwrap(),
                "--prefill",
                "20",
                "--decode",
                "4",
                "--reps",
                "1",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        for key in ["prefill_tokens_per_second", "decode_tokens_per_second", "decode_gb_per_second", "peak_rss_bytes"] {
            assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{file}: {key} in {v}");
        }
        let model = convert::Model::open(&golden(file)).unwrap();
        let emb = model.get("emb.weight").unwrap();
        let all: u64 = model.tensors.iter().map(|t| t.bytes().len() as u64).sum();
        let row = emb.bytes().len() as u64 / emb.shape[0] as u64;
        assert_eq!(v["weight_bytes_per_token"].as_u64(), Some(all - emb.bytes().len() as u64 + row), "{file}");
    }
}

/// A byte-level BPE `tokenizer.json` with one token per byte, `<|endoftext|>` at 0 and one merge.
fn byte_tokenizer_json() -> String {
    // GPT-2's byte map: printable bytes stand for themselves, the rest from U+0100 on.
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut next = 256;
    let mut vocab = serde_json::Map::new();
    for b in 0..256u32 {
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        vocab.insert(char::from_u32(c).unwrap().to_string(), (b + 1).into());
    }
    vocab.insert("hi".into(), 257.into());
    serde_json::json!({
        "version": "1.0",
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true, "single_word": false,
                          "lstrip": false, "rstrip": false, "normalized": false}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "vocab": vocab, "merges": ["h i"]}
    })
    .to_string()
}

/// `--tokenizer PATH`: a tokenizer.json of one's own is written into the GGUF (as `gpt2`, no
/// pre-tokenizer name) and the HF folder, and runs text; a GGUF whose tokenizer is neither World
/// nor GPT-NeoX-20B asks for `--tokenizer` again rather than guessing.
#[test]
fn a_tokenizer_json_of_ones_own() {
    let dir = tempfile::tempdir().unwrap();
    let tj = dir.path().join("tokenizer.json");
    std::fs::write(&tj, byte_tokenizer_json()).unwrap();
    let pth = golden("v7-bf16.pth");
    let gguf = dir.path().join("m.gguf");
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(bin().arg("convert").arg(&pth).args(["--to", "gguf"]).arg(&gguf).arg("--tokenizer").arg(&tj).output().unwrap());
    let f = convert::gguf::GgufFile::open(&gguf).unwrap();
    assert_eq!(f.get("tokenizer.ggml.model").and_then(|v| v.as_str()), Some("gpt2"));
    assert!(f.get("tokenizer.ggml.pre").is_none());
    let Some(convert::gguf::Value::Array(_, tokens)) = f.get("tokenizer.ggml.tokens") else { panic!() };
    assert_eq!(tokens.len(), 512);
    assert_eq!(
        (tokens[0].as_str(), tokens[257].as_str(), tokens[258].as_str()),
        (Some("<|endoftext|>"), Some("hi"), Some("[PAD258]"))
    );
    let o = bin().arg("run").arg(&gguf).args(["--prompt", "hi", "--max-tokens", "2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"gpt2\" with 512 tokens") && err.contains("--tokenizer"), "{err}");
    let run = |m: &Path| {
        bin()
            .arg("run")
            .arg(m)
            .args(["--prompt", "hi hi", "--max-tokens", "2", "--temperature", "0"])
            .arg("--tokenizer")
            .arg(&tj)
            .output()
            .unwrap()
    };
    ok(run(&gguf));
    ok(run(&pth));
    let hf = dir.path().join("hf");
    ok(bin().arg("convert").arg(&pth).args(["--to", "hf"]).arg(&hf).arg("--tokenizer").arg(&tj).output().unwrap());
    assert_eq!(std::fs::read_to_string(hf.join("tokenizer.json")).unwrap(), byte_tokenizer_json());
    // The folder's own tokenizer.json is read back: text runs without the flag.
    ok(bin().arg("run").arg(&hf).args(["--prompt", "hi", "--max-tokens", "1"]).output().unwrap());
}
