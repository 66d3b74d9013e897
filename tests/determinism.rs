//! The same input gives the same bytes on every run and every thread count, for each command
//! that writes files (`release` is covered in tests/release.rs).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(threads: usize, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
        .arg("--threads")
        .arg(threads.to_string())
        .args(common::with_test_tokenizer(args))
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Every file under `dir`, relative name → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for (k, v) in files(&p) {
                out.insert(format!("{}/{k}", p.file_name().unwrap().to_string_lossy()), v);
            }
        } else {
            out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
        }
    }
    out
}

/// Run every writing command into `dir` with `threads` workers.
fn make_all(dir: &Path, threads: usize) {
    let src = root().join("golden/v7-bf16.pth");
    let text = root().join("golden/tokenizer/corpus.txt");
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let src = src.to_str().unwrap();
    run(threads, &["convert", src, "--to", "gguf", &s("bf16.gguf")]);
    run(threads, &["convert", src, "--to", "gguf", &s("q4km.gguf"), "--outtype", "Q4_K_M"]);
    run(threads, &["convert", src, "--to", "hf", &s("hf")]);
    run(threads, &["imatrix", src, "--text", text.to_str().unwrap(), "-o", &s("imatrix.gguf"), "--chunk", "128"]);
    for ty in ["Q8_0", "Q6_K", "IQ4_NL", "IQ3_M"] {
        run(threads, &["quantize", &s("bf16.gguf"), &s(&format!("{ty}.gguf")), ty, "--imatrix", &s("imatrix.gguf")]);
    }
    run(threads, &["synth", &s("synth.pth"), "--layers", "1", "--embd", "64", "--vocab", "300"]);
    // The engine: a long prompt (the packed GEMM), a short one (the register-block row form), the
    // stored bf16 rows and the quantized blocks.
    // (Run from `dir` with relative names: the file records the model's path.)
    let ids = |n: usize| (0..n).map(|i| ((i * 37 + 11) % 511 + 1).to_string()).collect::<Vec<_>>().join(",");
    std::fs::copy(src, dir.join("src.pth")).unwrap();
    for (model, tag) in [("src.pth", "pth"), ("q4km.gguf", "q4km")] {
        for n in [300, 40] {
            let out = format!("logits-{tag}-{n}.safetensors");
            let o = Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
                .current_dir(dir)
                .args(["--threads", &threads.to_string(), "logits", model, "--tokens", &ids(n), "--mode", "sequence"])
                .args(["--out", &out])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
}

#[test]
fn outputs_do_not_depend_on_runs_or_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen: Option<BTreeMap<String, Vec<u8>>> = None;
    for (i, threads) in [1usize, 2, 5, 2].into_iter().enumerate() {
        let d = dir.path().join(format!("run{i}"));
        std::fs::create_dir(&d).unwrap();
        make_all(&d, threads);
        let mut got = files(&d);
        // The imatrix path is recorded in the quantized files (as llama-quantize records it);
        // every run uses its own folder, so compare those files with the path made equal.
        for (name, bytes) in got.iter_mut() {
            if name.ends_with(".gguf") {
                let from = d.to_string_lossy().into_owned();
                let to = dir.path().join("run0").to_string_lossy().into_owned();
                if let Some(pos) = find(bytes, from.as_bytes()) {
                    bytes.splice(pos..pos + from.len(), to.bytes());
                }
            }
        }
        match &seen {
            None => seen = Some(got),
            Some(first) => {
                assert_eq!(first.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
                for (name, bytes) in first {
                    assert!(bytes == &got[name], "{name} differs with {threads} threads (run {i})");
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
