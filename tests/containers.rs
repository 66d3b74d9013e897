//! torch's own container edge cases (golden/containers, written by golden/make_containers.py):
//! strided and shared views, scalars, empty tensors, every storage dtype, protocol 4 pickles,
//! `{name: Parameter}` files, the legacy stream, and a real attacker file.

mod common;
use common::assert_tensors_as_listed;

use convert::torch::TorchCheckpoint;
use convert::ErrorKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/containers")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("containers.json")).unwrap()).unwrap()
}

#[test]
fn every_container_file_reads_back_as_torch_wrote_it() {
    let manifest = manifest();
    let files = manifest["files"].as_object().unwrap();
    assert_eq!(files.len(), 4);
    for (file, tensors) in files {
        let ckpt = TorchCheckpoint::open(&dir().join(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_tensors_as_listed(file, &ckpt.tensors, tensors.as_array().unwrap());
    }
}

#[test]
fn strided_views_are_gathered_and_contiguous_ones_stay_mapped() {
    let ckpt = TorchCheckpoint::open(&dir().join("views.pth")).unwrap();
    let get = |n: &str| ckpt.tensors.iter().find(|t| t.name == n).unwrap();
    assert!(get("base").data.is_mapped());
    assert!(get("rows").data.is_mapped(), "a row slice is contiguous: a view at an offset, no copy");
    assert!(!get("transposed").data.is_mapped());
    assert!(!get("column").data.is_mapped());
    // The transpose holds the base's values, transposed.
    let (base, tr) = (get("base").to_f32().unwrap(), get("transposed").to_f32().unwrap());
    let (r, c) = (get("base").shape[0], get("base").shape[1]);
    for i in 0..r {
        for j in 0..c {
            assert_eq!(base[i * c + j], tr[j * r + i]);
        }
    }
}

#[test]
fn a_real_torch_save_attacker_file_is_refused_and_its_payload_never_runs() {
    let m = manifest();
    let canary = PathBuf::from(m["canary"].as_str().unwrap());
    let _ = std::fs::remove_file(&canary);
    let file = dir().join(m["hostile"]["file"].as_str().unwrap());
    let err = TorchCheckpoint::open(&file).err().expect("must be refused");
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.to_string().contains("'posix.system'"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_rwkv-convert")).args(["inspect", "--raw"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("posix.system"));
    assert!(!canary.exists(), "the payload ran");
}
