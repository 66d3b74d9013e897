//! Every transform of every version, GGUF and HF, back to the canonical tensors bit for bit.
//! The models are synthetic (every tensor of the version's table, seeded values) with the golden
//! files' shapes but 13 layers, so RWKV-6's rescale runs with k = 0, 1 and 2.

mod common;

use convert::arch::gguf::{rows, Transform};
use convert::gguf::export::{plan, OutType};
use convert::hf::{write_folder, HfDtype, HfOptions};
use convert::{DType, Model};
use std::collections::BTreeSet;
use std::path::Path;

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

/// Bit patterns of a tensor's values, widened to f32 (exact for every float dtype here).
fn bits(t: &convert::Tensor) -> Vec<u32> {
    t.to_f32().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn same_tensors(src: &Model, back: &Model, what: &str) {
    assert_eq!(back.version, src.version, "{what}");
    assert_eq!(back.hparams, src.hparams, "{what}");
    for t in &src.tensors {
        let b = back.get(&t.name).unwrap_or_else(|| panic!("{what}: {} lost", t.name));
        assert_eq!(b.squeezed_shape(), t.squeezed_shape(), "{what} {}", t.name);
        if b.dtype == t.dtype {
            assert!(b.bytes() == t.bytes(), "{what} {}: bytes differ", t.name);
        } else {
            assert!(bits(b) == bits(t), "{what} {}: values differ", t.name);
        }
    }
}

#[test]
fn every_transform_of_every_version_round_trips_through_gguf_and_hf() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for file in ["v4-bf16.pth", "v5.0-bf16.pth", "v5.1-bf16.pth", "v5.2-bf16.pth", "v6-bf16.pth", "v7-bf16.pth"] {
        let golden_model = common::open_test_model(&golden(file));
        let mut hp = golden_model.hparams.clone();
        hp.n_layer = 13;
        for dtype in [DType::BF16, DType::F32] {
            let pth = dir.path().join(format!("{file}-{dtype}.pth"));
            convert::synth::save(&pth, golden_model.version, &hp, dtype, 11).unwrap();
            let src = common::open_test_model(&pth);
            for r in rows(src.version, &src.hparams) {
                seen.insert(match r.transform {
                    Transform::Rescale(k) => format!("Rescale({k})"),
                    t => format!("{t:?}"),
                });
            }
            let outs: &[OutType] = if dtype == DType::BF16 { &[OutType::F32, OutType::BF16] } else { &[OutType::F32] };
            for &out in outs {
                let gguf = dir.path().join("m.gguf");
                let (writer, tensors) = plan(&src, out, "t").unwrap();
                writer.write(&gguf, true, &tensors, |_| {}).unwrap();
                let back = common::open_test_model(&gguf);
                same_tensors(&src, &back, &format!("{file} {dtype} → GGUF {out:?}"));
            }
            if !matches!(src.version, convert::arch::Version::V5_0 | convert::arch::Version::V5_1) {
                let hf = dir.path().join(format!("hf-{file}-{dtype}"));
                let opts = HfOptions {
                    dtype: HfDtype::Keep,
                    max_shard_bytes: u64::MAX,
                    force: true,
                    remote_code_dir: None,
                    context_length: None,
                };
                write_folder(&src, &hf, &opts, |_, _| {}).unwrap();
                let back = common::open_test_model(&hf);
                same_tensors(&src, &back, &format!("{file} {dtype} → HF"));
            }
        }
    }
    // Every kind of transform was exercised, the rescale at three depths.
    for t in ["Copy", "Transpose", "Stack", "Permute021", "Rescale(0)", "Rescale(1)", "Rescale(2)"] {
        assert!(seen.contains(t), "{t} not exercised: {seen:?}");
    }
}
