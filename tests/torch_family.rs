//! A family of files written by torch.save itself (golden/torch-family, by
//! golden/make_torch_family.py): every stem length 1..48 (torch names each entry under the stem,
//! which moves the zip directory's record sizes), 0..65536 entries (the EOCD's 16-bit counts
//! saturate at 65535), storage sizes and dtypes, views, alignment 4096, CRC-32s off, pickle
//! protocols 2 and 4, zip and legacy containers. Every file must read back as torch wrote it.

mod common;
use common::{assert_tensors_as_listed, sha256_hex};

use convert::torch::{Container, TorchCheckpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/torch-family")
}

/// The file as torch wrote it: itself, or decompressed into `tmp` when committed gzipped.
fn torch_file(file: &str, want: &Value, tmp: &Path) -> PathBuf {
    let Some(gz) = want["gzip"].as_str() else { return dir().join(file) };
    let mut raw = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(std::fs::File::open(dir().join(gz)).unwrap());
    std::io::Read::read_to_end(&mut reader, &mut raw).unwrap();
    assert_eq!(sha256_hex(&raw), want["sha256"].as_str().unwrap(), "{gz}: not the file torch wrote");
    let path = tmp.join(file);
    std::fs::write(&path, raw).unwrap();
    path
}

fn check(file: &str, want: &Value, tmp: &Path) {
    let path = torch_file(file, want, tmp);
    let ckpt = TorchCheckpoint::open(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let legacy = want["container"] == "legacy";
    assert_eq!(ckpt.container == Container::Legacy, legacy, "{file}: container");
    if let Some(n) = want["rule"]["scalars"].as_u64() {
        // Tensor tN is the float32 scalar N.
        assert_eq!(ckpt.tensors.len() as u64, n, "{file}");
        for (i, t) in ckpt.tensors.iter().enumerate() {
            assert_eq!(t.name, format!("t{i}"), "{file}");
            assert_eq!(t.bytes(), (i as f32).to_le_bytes(), "{file} {}", t.name);
        }
    } else {
        assert_tensors_as_listed(file, &ckpt.tensors, want["tensors"].as_array().unwrap());
    }
    // The stored CRC-32s hold (torch writes 0 when they are switched off).
    let checked = ckpt.verify().unwrap_or_else(|e| panic!("{file}: {e}"));
    if !legacy && file != "no-crc.pth" {
        assert!(checked > 0 || ckpt.tensors.is_empty(), "{file}: no CRC checked");
    }
    if file == "no-crc.pth" {
        assert_eq!(checked, 0);
    }
}

#[test]
fn every_torch_saved_file_of_the_family_reads_back() {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("family.json")).unwrap()).unwrap();
    let files = manifest["files"].as_object().unwrap();
    // Every file on disk is in the manifest and the other way round.
    let on_disk = std::fs::read_dir(dir())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
            name.ends_with(".pth") || name.ends_with(".pth.gz")
        })
        .count();
    assert_eq!(on_disk, files.len());
    assert!(files.len() >= 60, "the family shrank: {}", files.len());
    let tmp = tempfile::tempdir().unwrap();
    for (file, want) in files {
        check(file, want, tmp.path());
    }
}

/// The file past 4 GiB that `make_torch_family.py --big DIR` writes (zip64 extra fields for
/// offsets and sizes); too big to commit, read when RWKV_TORCH_FAMILY_BIG names its folder.
#[test]
fn a_torch_file_past_4_gib_reads_back_when_present() {
    let Some(dir) = std::env::var_os("RWKV_TORCH_FAMILY_BIG") else {
        eprintln!("skipped: RWKV_TORCH_FAMILY_BIG is not set (python golden/make_torch_family.py --big DIR)");
        return;
    };
    let dir = PathBuf::from(dir);
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("over-4gib.json")).unwrap()).unwrap();
    let ckpt = TorchCheckpoint::open(&dir.join("over-4gib.pth")).unwrap();
    let small = ckpt.tensors.iter().find(|t| t.name == "small").unwrap();
    let want: Vec<u8> = (0..10).flat_map(|i| (i as f32).to_le_bytes()).collect();
    assert_eq!(small.bytes(), want);
    let huge = ckpt.tensors.iter().find(|t| t.name == "huge").unwrap();
    let n = meta["huge_len"].as_u64().unwrap() as usize;
    let every = meta["ones_every"].as_u64().unwrap() as usize;
    assert_eq!(huge.shape, vec![n]);
    let b = huge.bytes();
    for i in (0..n).step_by(every / 4) {
        let v = f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(v, if i % every == 0 { 1.0 } else { 0.0 }, "element {i}");
    }
}
