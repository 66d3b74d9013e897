//! `.pth` → GGUF → canonical model: the same tensors, and the same engine logits.

mod common;

use convert::gguf::export::{plan, OutType};
use convert::gguf::GgufFile;
use convert::Model;
use reference::{Engine, Options};
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn write(model: &Model, out: &Path, outtype: OutType) {
    let (writer, tensors) = plan(model, outtype, "test").unwrap();
    writer.write(out, true, &tensors, |_| {}).unwrap();
}

const TOKENS: [u32; 8] = [0, 17, 342, 511, 5, 88, 260, 1];

fn logits(model: &Model) -> Vec<f32> {
    let engine = Engine::load(model, &Options { pure_f32_ln0: true }).unwrap();
    engine.logits_seq(&TOKENS, &mut engine.new_state()).iter().copied().collect()
}

#[test]
fn every_version_round_trips_through_f32_gguf_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for file in
        ["v4-bf16.pth", "v5.0-bf16.pth", "v5.1-bf16.pth", "v5.2-bf16.pth", "v6-bf16.pth", "v7-bf16.pth", "v7-fp32.pth"]
    {
        let src = common::open_test_model(&golden(file));
        let out = dir.path().join(format!("{file}.gguf"));
        write(&src, &out, OutType::F32);
        let back = common::open_test_model(&out);
        assert_eq!(back.version, src.version, "{file}");
        assert_eq!(back.hparams, src.hparams, "{file}");
        // Every tensor of the source comes back with the same values (layer 0's unused v0/v1/v2
        // of training-layout files are not carried).
        for t in &src.tensors {
            let Some(b) = back.get(&t.name) else {
                assert!(file == "v7-fp32.pth" && t.name.starts_with("blocks.0.att.v"), "{file}: {} lost", t.name);
                continue;
            };
            assert_eq!(b.squeezed_shape(), t.squeezed_shape(), "{file} {}", t.name);
            assert_eq!(b.to_f32().unwrap(), t.to_f32().unwrap(), "{file} {}", t.name);
        }
        assert_eq!(logits(&back), logits(&src), "{file}: the engine must give identical logits");
    }
}

#[test]
fn half_precision_files_keep_weights_within_their_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::open_test_model(&golden("v7-fp32.pth"));
    let want = logits(&src);
    for outtype in [OutType::F16, OutType::BF16] {
        let out = dir.path().join("h.gguf");
        write(&src, &out, outtype);
        let back = common::open_test_model(&out);
        // v7-fp32 holds bf16-representable values: BF16 is exact, F16 rounds tiny values only.
        let d = logits(&back).iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        match outtype {
            OutType::BF16 => assert_eq!(d, 0.0),
            _ => assert!(d < 1e-3, "F16: {d}"),
        }
        let f = GgufFile::open(&out).unwrap();
        let key = f.tensors.iter().find(|t| t.name == "blk.1.time_mix_key.weight").unwrap();
        assert_eq!(key.ty, outtype.ggml());
        let w1 = f.tensors.iter().find(|t| t.name == "blk.1.time_mix_w1.weight").unwrap();
        assert_eq!(w1.ty, quantize::GgmlType::F32, "llama.cpp's converter keeps the decay LoRA in F32");
    }
}

#[test]
fn world_vocabulary_models_carry_llama_cpp_tokenizer_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let pth = dir.path().join("w.pth");
    let hp = convert::synth::v7_hparams(1, 64, 65536);
    convert::synth::save(&pth, convert::arch::Version::V7, &hp, convert::DType::BF16, 3).unwrap();
    let model = common::open_test_model(&pth);
    let out = dir.path().join("w.gguf");
    write(&model, &out, OutType::BF16);
    let f = GgufFile::open(&out).unwrap();
    let tokens = match f.get("tokenizer.ggml.tokens").unwrap() {
        convert::gguf::Value::Array(8, items) => {
            items.iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(tokens.len(), 65536);
    assert_eq!(tokens[0], "<s>");
    assert_eq!(tokens[11], "\\n", "byte 0x0a is token 11, stored as repr would print it");
    assert_eq!(tokens[129], "\\x80");
    assert_eq!(tokens[261], "\\n\\n");
    assert_eq!(tokens[65535], "[PAD65535]", "padding is named by token id, as llama.cpp names it");
    assert_eq!(f.get("tokenizer.ggml.eot_token_id").and_then(|v| v.as_u64()), Some(261));
    // Layer 0's value-residual placeholders are copies of a0/a1/a2, as llama.cpp's loader expects.
    let t = |n: &str| f.tensors.iter().find(|t| t.name == n).unwrap();
    assert_eq!(f.bytes(t("blk.0.time_mix_v1.weight")), f.bytes(t("blk.0.time_mix_a1.weight")));
}
