//! Every golden checkpoint (written by torch; see golden/make_golden.py) reads back with the
//! version, hyper-parameters and tensors torch saved, byte for byte.

mod common;
use common::sha256_hex;

use convert::model::Source;
use convert::Model;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(golden().join("manifest.json")).expect("golden/manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

#[test]
fn golden_checkpoints_read_back_exactly() {
    let manifest = manifest();
    let checkpoints = manifest["checkpoints"].as_array().expect("checkpoints");
    assert!(checkpoints.len() >= 10, "manifest lists {} checkpoints", checkpoints.len());
    for ck in checkpoints {
        let file = ck["file"].as_str().unwrap();
        let path = golden().join(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(sha256_hex(&bytes), ck["file_sha256"].as_str().unwrap(), "{file}: file differs from the manifest");

        let model = Model::open(&path).unwrap_or_else(|e| panic!("{e}"));
        check_version(&model, ck, file);
        check_hparams(&model, &ck["hyperparams"], file);
        match (&model.source, ck["container"].as_str().unwrap()) {
            (Source::TorchZip { prefix }, "zip") => {
                assert_eq!(prefix, ck["zip_prefix"].as_str().unwrap(), "{file}")
            }
            (Source::TorchLegacy, "legacy") => {}
            (got, want) => panic!("{file}: container {got:?}, manifest says {want}"),
        }

        let tensors = ck["tensors"].as_array().unwrap();
        let names: Vec<&str> = model.tensors.iter().map(|t| t.name.as_str()).collect();
        let want: Vec<&str> = tensors.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, want, "{file}: tensor names or order differ");
        for (t, w) in model.tensors.iter().zip(tensors) {
            assert_eq!(t.dtype.name(), w["dtype"].as_str().unwrap(), "{file} {}", t.name);
            let shape: Vec<usize> =
                w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(t.shape, shape, "{file} {}", t.name);
            assert_eq!(sha256_hex(t.bytes()), w["sha256"].as_str().unwrap(), "{file} {}: bytes differ", t.name);
            // Zip storages are 64-byte aligned and must be read in place, never copied.
            if ck["container"] == "zip" {
                assert!(t.data.is_mapped(), "{file} {}: copied instead of mapped", t.name);
            }
        }
    }
}

fn check_version(model: &Model, ck: &Value, file: &str) {
    let want = ck["version"].as_str().unwrap();
    let (version, deep) = match want.strip_suffix("-deepembed") {
        Some(v) => (v, true),
        None => (want, false),
    };
    assert_eq!(model.version.as_str(), version, "{file}: version");
    assert_eq!(model.hparams.deep_embed.is_some(), deep, "{file}: DeepEmbed");
}

fn check_hparams(model: &Model, want: &Value, file: &str) {
    let ours = serde_json::to_value(&model.hparams).unwrap();
    for (key, value) in want.as_object().unwrap() {
        match key.as_str() {
            "deepembed" => {
                let de = model.hparams.deep_embed.expect("DeepEmbed hyper-parameters");
                assert_eq!(de.table_dim as u64, value["s_emb_dim"].as_u64().unwrap(), "{file}: DeepEmbed width");
                assert_eq!(de.rank as u64, value["s_rank"].as_u64().unwrap(), "{file}: DeepEmbed rank");
            }
            _ => assert_eq!(ours.get(key).unwrap_or(&Value::Null), value, "{file}: hyper-parameter {key}"),
        }
    }
    // And nothing inferred that the generator did not build.
    for key in ours.as_object().unwrap().keys() {
        assert!(want.get(key).is_some() || key == "deep_embed", "{file}: unexpected hyper-parameter {key}");
    }
}
