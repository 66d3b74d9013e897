//! The real torch files in ../shared/fixtures (written by torch.save, not by us) against the
//! official `rwkv` package (golden/shared-fixtures, by golden/make_shared_fixture_logits.py):
//! they read, convert to GGUF and HF, and every form runs to the package's logits.

mod common;

use convert::gguf::export::{plan, OutType};
use convert::hf::{write_folder, HfDtype, HfOptions};
use reference::{Engine, Options};
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent (../shared is not laid beside the project)", p.display());
        None
    }
}

fn official(name: &str) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/shared-fixtures").join(name);
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let golden: serde_json::Value = serde_json::from_str(&meta.metadata().as_ref().unwrap()["golden"]).unwrap();
    let tokens = golden["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f = |n: &str| {
        st.tensor(n).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    };
    (tokens, f("logits_seq"), f("logits_tok"))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// torch 2.15's own file with zip64 end records and a 21-character stem, which the `zip` crate's
/// offset detection misread (issue 14); a 12-layer RWKV-6, so the rescale of layers 6..11 is
/// exercised through GGUF too.
#[test]
fn the_torch_zip64_fixture_reads_converts_and_runs_as_the_official_package() {
    let Some(pth) = shared("torch-zip64/rwkv6-1m-fp32.pth") else { return };
    let (tokens, seq, tok) = official("rwkv6-1m-fp32.official.safetensors");
    let src = common::open_test_model(&pth);
    assert_eq!(src.hparams.n_layer, 12);
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("m.gguf");
    let (writer, tensors) = plan(&src, OutType::F32, "fixture").unwrap();
    writer.write(&gguf, false, &tensors, |_| {}).unwrap();
    let hf = dir.path().join("hf");
    let opts = HfOptions {
        dtype: HfDtype::Keep,
        max_shard_bytes: u64::MAX,
        force: false,
        remote_code_dir: None,
        context_length: None,
    };
    write_folder(&src, &hf, &opts, |_, _| {}).unwrap();
    for path in [pth.clone(), gguf, hf] {
        let model = common::open_test_model(&path);
        let engine = Engine::load(&model, &Options::default()).unwrap();
        let got = engine.logits_seq(&tokens, &mut engine.new_state());
        let d = max_diff(got.as_slice().unwrap(), &seq);
        assert!(d <= 1e-4, "{}: sequence logits differ from the package by {d}", path.display());
        let got = engine.logits_tok(&tokens, &mut engine.new_state());
        let d = max_diff(got.as_slice().unwrap(), &tok);
        assert!(d <= 1e-4, "{}: token logits differ from the package by {d}", path.display());
    }
}
