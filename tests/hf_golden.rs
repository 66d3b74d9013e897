//! HF/fla folders against the official converters (golden/hf, made by golden/hf/make_hf_golden.py):
//! fla's RWKV-7 file byte for byte, the transformers / RWKV-org tensors bit for bit; and the round
//! trip `.pth` → HF → canonical model → engine.

mod common;
use common::sha256_hex;

use convert::hf::{write_folder, HfDtype, HfOptions};
use convert::Model;
use reference::{Engine, Options};
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn record(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden(&format!("hf/{name}.json"))).unwrap()).unwrap()
}

fn convert(src: &str, dtype: HfDtype, dir: &Path) -> Model {
    let model = Model::open(&golden(src)).unwrap();
    let opts =
        HfOptions { dtype, max_shard_bytes: 2_000_000_000, force: true, remote_code_dir: None, context_length: None };
    write_folder(&model, dir, &opts, |_, _| {}).unwrap();
    model
}

#[test]
fn rwkv7_safetensors_is_byte_identical_to_flas_converter() {
    let want = record("v7-bf16")["output"]["safetensors"]["file_sha256"].as_str().unwrap().to_string();
    for (src, dtype) in [("v7-bf16.pth", HfDtype::Keep), ("v7-fp32.pth", HfDtype::BF16)] {
        let dir = tempfile::tempdir().unwrap();
        convert(src, dtype, dir.path());
        let got = sha256_hex(&std::fs::read(dir.path().join("model.safetensors")).unwrap());
        assert_eq!(got, want, "{src}: model.safetensors differs from fla's convert_from_rwkv7.py output");
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        // The values fla's converter gets wrong, right here.
        assert_eq!(config["num_heads"], 2);
        assert_eq!(config["head_dim"], 64);
        assert_eq!(config["bos_token_id"], 0);
        assert_eq!(config["eos_token_id"], 0);
        assert_eq!(config["v_low_rank_dim"], 8);
    }
}

#[test]
fn rwkv4_5_6_tensors_are_bit_identical_to_the_official_converters() {
    for (name, model_type) in [("v4-bf16", "rwkv"), ("v4-fp16", "rwkv"), ("v5.2-bf16", "rwkv5"), ("v6-bf16", "rwkv6")] {
        let rec = record(name);
        let dir = tempfile::tempdir().unwrap();
        convert(&format!("{name}.pth"), HfDtype::Keep, dir.path());
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let want = rec["output"]["pytorch_model_bin"]["tensors"].as_array().unwrap();
        assert_eq!(st.len(), want.len(), "{name}: tensor count");
        for w in want {
            let n = w["name"].as_str().unwrap();
            let t = st.tensor(n).unwrap_or_else(|_| panic!("{name}: {n} missing"));
            assert_eq!(format!("{:?}", t.dtype()), w["dtype"].as_str().unwrap(), "{name} {n}");
            let shape: Vec<usize> =
                w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(t.shape(), &shape[..], "{name} {n}");
            assert_eq!(sha256_hex(t.data()), w["sha256"].as_str().unwrap(), "{name} {n}: values differ");
        }
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(config["model_type"], model_type);
        assert_eq!(config["vocab_size"], 512, "{name}: the real row count, not the tokenizer's");
        if model_type != "rwkv" {
            assert_eq!(config["num_attention_heads"], 2, "{name}: heads from the tensors, not a constant");
        }
    }
}

#[test]
fn pth_to_hf_and_back_gives_the_same_tensors_and_logits() {
    let tokens = [0u32, 17, 342, 511, 5, 88, 260, 1];
    for src in ["v4-bf16.pth", "v5.2-bf16.pth", "v6-bf16.pth", "v7-bf16.pth", "v7-fp32.pth"] {
        let dir = tempfile::tempdir().unwrap();
        let model = convert(src, HfDtype::Keep, dir.path());
        let back = Model::open(dir.path()).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(back.version, model.version, "{src}");
        assert_eq!(back.hparams, model.hparams, "{src}");
        for t in back.tensors.iter() {
            let orig = model.get(&t.name).unwrap_or_else(|| panic!("{src}: {} not in the source", t.name));
            assert_eq!(t.to_f32().unwrap(), orig.to_f32().unwrap(), "{src} {}", t.name);
        }
        let run = |m: &Model| {
            let e = Engine::load(m, &Options::default()).unwrap();
            e.logits_seq(&tokens, &mut e.new_state()).iter().copied().collect::<Vec<f32>>()
        };
        assert_eq!(run(&back), run(&model), "{src}: engine logits differ after the round trip");
    }
}

#[test]
fn versions_the_targets_cannot_express_are_refused_clearly() {
    for (src, words) in [("v5.0-bf16.pth", "5.2 only"), ("v7de-bf16.pth", "DeepEmbed")] {
        let model = Model::open(&golden(src)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = HfOptions {
            dtype: HfDtype::Keep,
            max_shard_bytes: 2_000_000_000,
            force: true,
            remote_code_dir: None,
            context_length: None,
        };
        let err = write_folder(&model, dir.path(), &opts, |_, _| {}).err().expect("refused");
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[test]
fn large_models_are_sharded_with_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::open(&golden("v7-bf16.pth")).unwrap();
    let opts = HfOptions {
        dtype: HfDtype::F32,
        max_shard_bytes: 1_000_000,
        force: true,
        remote_code_dir: None,
        context_length: None,
    };
    write_folder(&model, dir.path(), &opts, |_, _| {}).unwrap();
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), model.tensors.len(), "every tensor of the released layout is in the index");
    let shards: std::collections::BTreeSet<&str> = map.values().map(|v| v.as_str().unwrap()).collect();
    assert!(shards.len() >= 3, "{shards:?}");
    let back = Model::open(dir.path()).unwrap();
    assert_eq!(back.hparams, model.hparams);
}

/// fla's older layout packs the six token-shift mixes as one `attn.x_x` [6, C] (r, w, k, v, a, g).
#[test]
fn older_fla_folders_with_packed_mixes_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = convert("v7-bf16.pth", HfDtype::Keep, dir.path());
    // Rewrite the folder's safetensors with x_r..x_g packed into x_x.
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for layer in 0..2 {
        let mut packed = Vec::new();
        for m in ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"] {
            packed.extend_from_slice(st.tensor(&format!("model.layers.{layer}.attn.{m}")).unwrap().data());
        }
        tensors.push((format!("model.layers.{layer}.attn.x_x"), safetensors::Dtype::BF16, vec![6, 128], packed));
    }
    for (name, t) in st.tensors() {
        if !name.contains(".attn.x_") {
            tensors.push((name, t.dtype(), t.shape().to_vec(), t.data().to_vec()));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let back = Model::open(dir.path()).unwrap();
    assert_eq!(back.hparams, model.hparams);
    for name in ["blocks.0.att.x_r", "blocks.1.att.x_g", "blocks.1.att.x_a"] {
        assert_eq!(back.get(name).unwrap().to_f32().unwrap(), model.get(name).unwrap().to_f32().unwrap(), "{name}");
    }
}
