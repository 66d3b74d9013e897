//! Every llama-quantize file type against llama.cpp itself (golden/gguf/ftypes.json, made by
//! golden/gguf/make_ftypes_golden.py with llama.cpp 0c1e570's llama-quantize): on the golden RWKV-7
//! and RWKV-6 GGUFs, without and with the same importance matrix, our `quantize` writes the same
//! bytes where llama-quantize writes a file and refuses where it refuses. File types we do not
//! write yet are listed, and must be ones we refuse by name.

mod common;

use common::sha256_hex;
use quantize::ftype::FileType;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn every_file_type_is_llama_quantizes_bytes_or_its_refusal() {
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("golden/gguf/ftypes.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_rwkv-convert");
    let imatrix_dir = root().join("golden/gguf/imatrix");
    let (mut checked, mut missing) = (0, Vec::new());
    for (model, runs) in g["runs"].as_object().unwrap() {
        let spec = &g["models"][model];
        let input = dir.path().join(format!("{model}.bf16.gguf"));
        let name = format!("{} Bf16", model.split('-').next().unwrap());
        let o = Command::new(bin)
            .arg("convert")
            .arg(root().join(format!("golden/{model}.pth")))
            .args(["--to", "gguf"])
            .arg(&input)
            .args(["--outtype", "bf16", "--name", &name, "--tokenizer", "world"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(sha256_hex(&std::fs::read(&input).unwrap()), spec["input_sha256"].as_str().unwrap());
        for (ty, rec) in runs.as_object().unwrap() {
            if FileType::parse(ty).is_none() {
                let out = dir.path().join("never.gguf");
                let o = Command::new(bin).arg("quantize").arg(&input).arg(&out).arg(ty).output().unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(o.status.code() == Some(1) && err.contains(ty.as_str()) && !out.exists(), "{ty}: {err}");
                missing.push(format!("{model} {ty}"));
                continue;
            }
            for variant in ["plain", "imatrix"] {
                let want = &rec[variant];
                let out = dir.path().join(format!("{model}.{ty}.{variant}.gguf"));
                let mut cmd = Command::new(bin);
                cmd.arg("quantize").arg(&input).arg(&out).arg(ty);
                if variant == "imatrix" {
                    // As llama-quantize was run: from the folder, with the file's bare name (it
                    // records the path it was given in the output).
                    cmd.current_dir(&imatrix_dir).args(["--imatrix", &format!("{model}.imatrix.gguf")]);
                }
                let o = cmd.output().unwrap();
                let what = format!("{model} {ty} {variant}: {}", String::from_utf8_lossy(&o.stderr));
                if want["written"].as_bool() == Some(true) {
                    assert!(o.status.success(), "{what}");
                    assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), want["sha256"].as_str().unwrap(), "{what}");
                } else {
                    assert_eq!(o.status.code(), Some(1), "{what}");
                    assert!(!out.exists(), "{what}");
                    let says_imatrix = want["refusal"].to_string().contains("requires an importance matrix");
                    let err = String::from_utf8_lossy(&o.stderr);
                    if says_imatrix {
                        assert!(err.contains("requires an importance matrix"), "{what}");
                    }
                }
                checked += 1;
            }
        }
    }
    println!("{checked} files or refusals equal llama-quantize's; not written yet: {missing:?}");
    assert!(checked >= 2 * 2 * 27, "{checked}");
}

/// A weight near f32's limit makes ggml's IQ1 search overflow and abort; we refuse it with an
/// error that names the tensor, and write nothing.
#[test]
fn iq1_refuses_values_ggml_aborts_on() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_rwkv-convert");
    let f32_gguf = dir.path().join("v7.f32.gguf");
    let o = Command::new(bin)
        .arg("convert")
        .arg(root().join("golden/v7-bf16.pth"))
        .args(["--to", "gguf"])
        .arg(&f32_gguf)
        .args(["--outtype", "f32", "--tokenizer", "world"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let name = "blk.0.channel_mix_value.weight";
    let at = {
        let f = convert::gguf::GgufFile::open(&f32_gguf).unwrap();
        f.tensors.iter().find(|t| t.name == name).unwrap().range.start + 4 * 7
    };
    let mut bytes = std::fs::read(&f32_gguf).unwrap();
    bytes[at..at + 4].copy_from_slice(&3e38f32.to_le_bytes());
    std::fs::write(&f32_gguf, &bytes).unwrap();
    let out = dir.path().join("iq1m.gguf");
    let im = root().join("golden/gguf/imatrix/v7-bf16.imatrix.gguf");
    let o = Command::new(bin)
        .arg("quantize")
        .arg(&f32_gguf)
        .arg(&out)
        .arg("IQ1_M")
        .arg("--imatrix")
        .arg(im)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(name) && err.contains("too large") && !err.contains("panicked"), "{err}");
    assert!(!out.exists());
}
