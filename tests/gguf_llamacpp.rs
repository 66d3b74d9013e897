//! Our `.pth` → GGUF and `quantize` against llama.cpp's own path (golden/gguf, made by
//! golden/gguf/make_gguf_golden.py: the official HF/fla converters, then llama.cpp's
//! convert_hf_to_gguf.py and llama_model_quantize from llama-cpp-python 0.3.36): whole files,
//! byte for byte.

mod common;
use common::sha256_hex;

use convert::gguf::export::{plan, OutType};
use convert::gguf::{requantize, GgufFile};
use quantize::ftype::{FileType, Overrides};
use quantize::GgmlType;
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden(name)).unwrap()).unwrap()
}

/// Our GGUF of a golden checkpoint; `general.name` as llama.cpp derives it from the HF folder name.
fn ours(version: &str, outtype: OutType, out: &Path) {
    let model = common::open_test_model(&golden(&format!("{version}-bf16.pth")));
    let (writer, tensors) = plan(&model, outtype, &format!("{version} Bf16")).unwrap();
    writer.write(out, true, &tensors, |_| {}).unwrap();
}

#[test]
fn pth_to_gguf_equals_llama_cpps_conversion_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for version in ["v7", "v6"] {
        for (name, outtype) in [("bf16", OutType::BF16), ("f16", OutType::F16), ("f32", OutType::F32)] {
            let out = dir.path().join(format!("{version}.{name}.gguf"));
            ours(version, outtype, &out);
            let want = json(&format!("gguf/{version}-bf16.{name}.json"));
            assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), want["sha256"].as_str().unwrap(), "{version} {name}");
        }
    }
}

/// llama.cpp ran the F32 files (which our writer reproduces byte for byte): within 1e-3 of the
/// official package for RWKV-7, and of our engine with a pure-f32 ln0 for RWKV-6 (the package
/// rounds ln0(emb) to bf16 for v4–v6, llama.cpp does not: that alone moves v6 by 2.6e-2).
#[test]
fn llama_cpp_logits_on_these_files_match_the_reference() {
    let read = |f: &str, t: &str| -> Vec<f32> {
        let b = std::fs::read(golden(f)).unwrap();
        let st = SafeTensors::deserialize(&b).unwrap();
        st.tensor(t).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let v7 = read("gguf/v7-bf16.llamacpp.safetensors", "logits_seq");
    let d = max_diff(&v7, &read("v7-bf16.official.safetensors", "logits_seq"));
    assert!(d <= 1e-3, "v7: llama.cpp vs official {d}");

    let dir = tempfile::tempdir().unwrap();
    let f32_file = dir.path().join("v6.f32.gguf");
    ours("v6", OutType::F32, &f32_file);
    let model = common::open_test_model(&f32_file);
    let engine = reference::Engine::load(&model, &reference::Options { pure_f32_ln0: true }).unwrap();
    let tokens: Vec<u32> =
        json("gguf/summary.json")["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    let ours: Vec<f32> = engine.logits_seq(&tokens, &mut engine.new_state()).iter().copied().collect();
    let d = max_diff(&read("gguf/v6-bf16.llamacpp.safetensors", "logits_seq"), &ours);
    assert!(d <= 1e-3, "v6: llama.cpp vs our engine {d}");
}

#[test]
fn quantize_equals_llama_quantize_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let q = json("gguf/quantized.json");
    let mut checked = 0;
    for (name, rec) in q["files"].as_object().unwrap() {
        let input = rec["input"].as_str().unwrap();
        let (version, outtype) = input.trim_end_matches(".gguf").split_once("-bf16.").unwrap();
        let src = dir.path().join(input);
        if !src.exists() {
            ours(version, if outtype == "f16" { OutType::F16 } else { OutType::BF16 }, &src);
            assert_eq!(sha256_hex(&std::fs::read(&src).unwrap()), rec["input_sha256"].as_str().unwrap(), "{input}");
        }
        let label = rec["label"].as_str().unwrap();
        let p = &rec["params"];
        let ftype = FileType::all().find(|f| f.id() as u64 == p["ftype"].as_u64().unwrap()).unwrap();
        let ty = |k: &str| p.get(k).and_then(Value::as_u64).map(|id| GgmlType::from_id(id as u32).unwrap());
        let o = Overrides {
            output: ty("output_tensor_type"),
            token_embedding: ty("token_embedding_type"),
            pure: p["pure"] == true,
        };
        let f = GgufFile::open(&src).unwrap();
        let out = dir.path().join(name);
        requantize::write(&f, &out, ftype, &o, true, |_| {}).unwrap_or_else(|e| panic!("{name} ({label}): {e}"));
        assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), rec["sha256"].as_str().unwrap(), "{name} ({label})");
        checked += 1;
    }
    assert_eq!(checked, 36, "every file llama-quantize made");
}

/// A legacy `.dat` importance matrix: (name, values) entries, each with `ncall`.
fn legacy_imatrix(entries: &[(String, Vec<f32>)], ncall: i32) -> Vec<u8> {
    let mut b = (entries.len() as i32).to_le_bytes().to_vec();
    for (name, vals) in entries {
        b.extend((name.len() as i32).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend(ncall.to_le_bytes());
        b.extend((vals.len() as i32).to_le_bytes());
        b.extend(vals.iter().flat_map(|v| v.to_le_bytes()));
    }
    b.extend(7i32.to_le_bytes());
    b.extend(4i32.to_le_bytes());
    b.extend(b"wiki");
    b
}

#[test]
fn an_importance_matrix_drives_the_weighted_quantizers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("v7.bf16.gguf");
    ours("v7", OutType::BF16, &src);
    let f = GgufFile::open(&src).unwrap();
    // One positive weight per column of every quantizable tensor, stored as sums × ncall.
    let entries: Vec<(String, Vec<f32>)> = f
        .tensors
        .iter()
        .filter(|t| quantize::ftype::allows_quantization(&t.name, &t.ne))
        .map(|t| (t.name.clone(), (0..t.ne[0]).map(|i| 3.0 * (0.5 + ((i * 37) % 11) as f32)).collect()))
        .collect();
    let dat = dir.path().join("imatrix.dat");
    std::fs::write(&dat, legacy_imatrix(&entries, 3)).unwrap();
    let im = convert::gguf::imatrix::Imatrix::load(&dat).unwrap();
    assert_eq!(im.datasets, vec!["wiki".to_string()]);

    // IQ3_XXS refuses to run without one, as llama-quantize does.
    let o = Overrides::default();
    let err = requantize::write(&f, &dir.path().join("x.gguf"), FileType::IQ3XXS, &o, true, |_| {}).err().unwrap();
    assert!(err.to_string().contains("importance matrix"), "{err}");
    // A type the quantizer does not have is refused before anything is written, naming the tensor.
    let q8_1 = Overrides { output: Some(GgmlType::Q8_1), ..Overrides::default() };
    let err = requantize::write(&f, &dir.path().join("x.gguf"), FileType::Q8_0, &q8_1, true, |_| {}).err().unwrap();
    assert!(err.to_string().contains("not implemented") && err.to_string().contains("output.weight"), "{err}");
    assert!(!dir.path().join("x.gguf").exists());

    let out = dir.path().join("q4k.gguf");
    requantize::write_with(&f, &out, FileType::Q4KM, &o, Some(&im), true, |_| {}).unwrap();
    let q = GgufFile::open(&out).unwrap();
    assert_eq!(q.get("quantize.imatrix.entries_count"), Some(&convert::gguf::Value::U32(entries.len() as u32)));
    assert_eq!(q.get("quantize.imatrix.dataset").and_then(|v| v.as_str()), Some("wiki"));
    // The 512-wide channel_mix_value rows are Q4_K, quantized with the normalised weights.
    let name = "blk.1.channel_mix_value.weight";
    let (t_in, t_out) =
        (f.tensors.iter().find(|t| t.name == name).unwrap(), q.tensors.iter().find(|t| t.name == name).unwrap());
    assert_eq!(t_out.ty, GgmlType::Q4K);
    let x = quantize::dequantize(t_in.ty, f.bytes(t_in)).unwrap();
    let w: Vec<f32> = entries.iter().find(|e| e.0 == name).unwrap().1.iter().map(|v| v / 3.0).collect();
    let want: Vec<u8> =
        x.chunks(512).flat_map(|row| quantize::codec::quantize_row_weighted(GgmlType::Q4K, row, &w).unwrap()).collect();
    assert_eq!(q.bytes(t_out), &want[..]);
    let plain: Vec<u8> = quantize::quantize(GgmlType::Q4K, &x).unwrap();
    assert_ne!(plain, want, "the weights must change the bytes");
    requantize::write_with(&f, &dir.path().join("iq3xxs.gguf"), FileType::IQ3XXS, &o, Some(&im), true, |_| {}).unwrap();
}

/// `convert --outtype Q4_K_M` straight from the `.pth` equals llama.cpp's convert + quantize.
#[test]
fn convert_straight_to_a_quantized_type_matches_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v7.q4km.gguf");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
        .arg("convert")
        .arg(golden("v7-bf16.pth"))
        .args(["--to", "gguf"])
        .arg(&out)
        .args(["--outtype", "Q4_K_M", "--name", "v7 Bf16", "--tokenizer", "world"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let want = json("gguf/quantized.json")["files"]["v7-bf16.bf16.Q4_K_M.gguf"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), want);
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left behind: {leftovers:?}");
}
