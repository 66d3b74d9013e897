//! Importance matrices against llama.cpp itself (golden/gguf/imatrix, by
//! golden/gguf/make_imatrix_golden.py with llama.cpp 0c1e570's llama-imatrix and llama-quantize):
//! our `imatrix` records the entries llama-imatrix records on RWKV-6 and RWKV-7, and our
//! `quantize --imatrix` writes llama-quantize's bytes given the same importance matrix, including
//! IQ3_XXS (whose token embedding needs no entry), and refuses where llama-quantize refuses.

mod common;
use common::sha256_hex;

use convert::gguf::imatrix::Imatrix;
use convert::gguf::requantize::write_mixed;
use convert::gguf::GgufFile;
use quantize::ftype::{FileType, Overrides};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("golden/gguf/imatrix/imatrix.json")).unwrap()).unwrap()
}

fn hex(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

fn rwkv_convert(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
        .args(common::with_test_tokenizer(args))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// llama.cpp's BF16 conversion of a golden checkpoint (our converter writes its bytes).
fn bf16_gguf(model: &str, dir: &Path, g: &Value) -> PathBuf {
    let out = dir.join(format!("{model}.bf16.gguf"));
    let pth = format!("golden/{model}.pth");
    let name = format!("{} Bf16", model.split('-').next().unwrap());
    rwkv_convert(&["convert", &pth, "--to", "gguf", out.to_str().unwrap(), "--outtype", "bf16", "--name", &name]);
    assert_eq!(hex(&out), g["models"][model]["gguf_sha256"].as_str().unwrap(), "{model}: input is not llama.cpp's");
    out
}

fn entry_names(path: &Path) -> Vec<String> {
    let f = GgufFile::open(path).unwrap();
    let mut names: Vec<String> =
        f.tensors.iter().filter_map(|t| t.name.strip_suffix(".in_sum2").map(String::from)).collect();
    names.sort();
    names
}

#[test]
fn imatrix_records_the_entries_llama_imatrix_records() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    for model in ["v6-bf16", "v7-bf16"] {
        let src = bf16_gguf(model, dir.path(), &g);
        let im = dir.path().join(format!("{model}.imatrix.gguf"));
        rwkv_convert(&[
            "imatrix",
            src.to_str().unwrap(),
            "--text",
            "golden/tokenizer/corpus.txt",
            "-o",
            im.to_str().unwrap(),
            "--chunk",
            "64",
        ]);
        let want: Vec<String> = g["models"][model]["llama_imatrix_entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().into())
            .collect();
        assert_eq!(entry_names(&im), want, "{model}");
        // RWKV-6's rescaled matrices are among them (they were dropped before).
        if model == "v6-bf16" {
            assert!(
                want.contains(&"blk.1.time_mix_output.weight".into())
                    && want.contains(&"blk.0.channel_mix_value.weight".into())
            );
        }
    }
}

#[test]
fn weighted_quantization_equals_llama_quantize_given_the_same_imatrix() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    for model in ["v6-bf16", "v7-bf16"] {
        let src = GgufFile::open(&bf16_gguf(model, dir.path(), &g)).unwrap();
        let mut im = Imatrix::load(&root().join(format!("golden/gguf/imatrix/{model}.imatrix.gguf"))).unwrap();
        // llama-quantize records the path it was given (relative, in the golden run).
        im.path = PathBuf::from(format!("{model}.imatrix.gguf"));
        for rec in g["weighted"].as_array().unwrap().iter().filter(|r| r["model"] == model) {
            let ty = rec["type"].as_str().unwrap();
            assert_eq!(rec["exit"], 0, "{model} {ty}: llama-quantize failed in the golden run");
            let out = dir.path().join(format!("{model}.{ty}.gguf"));
            let ftype = FileType::parse(ty).unwrap();
            write_mixed(&src, &out, ftype, &Overrides::default(), &[], Some(&im), true, |_| {})
                .unwrap_or_else(|e| panic!("{model} {ty}: {e}"));
            assert_eq!(hex(&out), rec["sha256"].as_str().unwrap(), "{model} {ty} with the imatrix");
        }
        // Without an importance matrix: refused exactly where llama-quantize refused.
        let rec = g["without_imatrix"].as_array().unwrap().iter().find(|r| r["model"] == model).unwrap();
        let out = dir.path().join(format!("{model}.plain.gguf"));
        let ftype = FileType::parse(rec["type"].as_str().unwrap()).unwrap();
        let got = write_mixed(&src, &out, ftype, &Overrides::default(), &[], None, true, |_| {});
        match rec["exit"].as_i64().unwrap() {
            0 => assert!(got.is_ok(), "{model}: llama-quantize wrote it, we refused: {:?}", got.err()),
            _ => {
                let e = got.expect_err("llama-quantize refused").to_string();
                assert!(e.contains("requires an importance matrix") && e.contains("rwkv-convert imatrix"), "{e}");
                assert!(!e.contains("token_embd") && !e.contains("output.weight"), "{e}");
                assert!(!out.exists());
            }
        }
    }
}
