//! Version detection and the per-version tables: what is refused, and how it is explained.

use convert::model::Source;
use convert::torch::TorchCheckpoint;
use convert::{ErrorKind, Model, Tensor};
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn tensors(name: &str) -> Vec<Tensor> {
    TorchCheckpoint::open(&golden(name)).unwrap().tensors
}

fn detect(tensors: Vec<Tensor>) -> Result<Model, convert::Error> {
    Model::new(Path::new("x.pth"), Source::TorchLegacy, 0, tensors)
}

#[test]
fn a_missing_tensor_is_named() {
    let mut t = tensors("v6-bf16.pth");
    t.retain(|t| t.name != "blocks.1.att.time_decay_w2");
    let err = detect(t).err().unwrap();
    assert_eq!(err.kind, ErrorKind::NotRwkv);
    assert!(err.message.contains("1 RWKV-6 tensors are missing: blocks.1.att.time_decay_w2"), "{err}");
}

#[test]
fn an_extra_tensor_is_named() {
    let mut t = tensors("v5.2-bf16.pth");
    let mut extra = t[3].clone();
    extra.name = "blocks.0.att.rosa.q.weight".into();
    t.push(extra);
    let err = detect(t).err().unwrap();
    assert!(err.message.contains("1 tensors that no RWKV-5.2 model has: blocks.0.att.rosa.q.weight"), "{err}");
}

#[test]
fn a_wrong_shape_is_named_with_both_shapes() {
    let mut t = tensors("v4-bf16.pth");
    let i = t.iter().position(|t| t.name == "blocks.1.ffn.value.weight").unwrap();
    t[i].shape = vec![512, 128];
    let err = detect(t).err().unwrap();
    assert_eq!(err.tensor.as_deref(), Some("blocks.1.ffn.value.weight"));
    assert!(err.message.contains("[512, 128]") && err.message.contains("[128, 512]"), "{err}");
}

#[test]
fn v7_layer0_value_residual_is_optional_but_other_layers_need_it() {
    // The fp32 golden file is in training layout: layer 0 carries v0/v1/v2.
    let training = tensors("v7-fp32.pth");
    assert!(training.iter().any(|t| t.name == "blocks.0.att.v1"));
    let mut released = training.clone();
    released.retain(|t| !["blocks.0.att.v0", "blocks.0.att.v1", "blocks.0.att.v2"].contains(&t.name.as_str()));
    assert_eq!(detect(training).unwrap().hparams, detect(released).unwrap().hparams);

    let mut broken = tensors("v7-bf16.pth");
    broken.retain(|t| t.name != "blocks.1.att.v0");
    let err = detect(broken).err().unwrap();
    assert!(err.message.contains("blocks.1.att.v0"), "{err}");
}

#[test]
fn squeezed_vectors_are_accepted() {
    // Some tools save [1,1,C] mixing vectors as [C]; the shape table compares squeezed shapes.
    let mut t = tensors("v7-bf16.pth");
    for x in t.iter_mut().filter(|t| t.name.ends_with(".x_r")) {
        x.shape = vec![128];
    }
    assert_eq!(detect(t).unwrap().version.as_str(), "7");
}

#[test]
fn the_deepembed_attention_variant_is_refused_by_name() {
    let mut t = tensors("v7-bf16.pth");
    let mut q = t[1].clone();
    q.name = "blocks.0.qkv.qq".into();
    t.push(q);
    let err = detect(t).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.message.contains("qkv"), "{err}");
}

#[test]
fn non_float_weights_are_refused() {
    let mut t = tensors("v4-bf16.pth");
    t[1].dtype = convert::DType::I16;
    let err = detect(t).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.tensor.as_deref(), Some("blocks.0.ln1.weight"));
}

/// BlinkDL's own torch 2.x files (RWKV-8 research models) open as containers but are refused.
#[test]
fn rwkv8_research_files_are_refused_as_not_rwkv_4_to_7() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/torch-real");
    if !dir.is_dir() {
        println!("skipped: {} is absent (it comes with the project's shared folder)", dir.display());
        return;
    }
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ckpt = TorchCheckpoint::open(&path).unwrap_or_else(|e| panic!("container must open: {e}"));
        assert!(!ckpt.tensors.is_empty());
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(matches!(&ckpt.container, convert::torch::Container::Zip { prefix } if !prefix.is_empty()), "{stem}");
        let err = Model::open(&path).err().unwrap_or_else(|| panic!("{stem} must be refused"));
        assert_eq!(err.kind, ErrorKind::NotRwkv, "{err}");
        assert!(err.to_string().contains("not an RWKV-4..7 checkpoint"), "{err}");
        assert!(err.to_string().contains("e.weight"), "the offending keys are listed: {err}");
        seen += 1;
    }
    assert_eq!(seen, 4);
}
