//! The reference engine against the official `rwkv` package (golden/*.official.safetensors):
//! logits at every position in sequence and token mode, and the final state, within 1e-4.

use convert::Model;
use reference::{Engine, Kernel, Options, State};
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-4;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn read_f32(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("{name}"));
    (t.shape().to_vec(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_state(file: &str, mode: &str, st: &SafeTensors, state: &State) {
    for (i, t) in state.tensors.iter().enumerate() {
        let (shape, want) = read_f32(st, &format!("state_{mode}.{i}"));
        assert_eq!(t.shape(), &shape[..], "{file} state {i} shape");
        let d = max_diff(t.as_slice().unwrap(), &want);
        assert!(d <= TOL, "{file} {mode} state {i}: max diff {d}");
    }
}

fn tokens(ck: &Value) -> Vec<u32> {
    ck["official"]["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect()
}

/// Both modes and both final states of one checkpoint against the package; returns the worst logit gap.
fn check(ck: &Value, kernel: Kernel) -> f32 {
    let file = ck["file"].as_str().unwrap();
    let tokens = tokens(ck);
    let bytes = std::fs::read(golden().join(ck["official"]["file"].as_str().unwrap())).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let model = Model::open(&golden().join(file)).unwrap();
    let mut engine = Engine::load(&model, &Options::default()).unwrap();
    engine.set_kernel(kernel);
    let mut worst = 0f32;
    for mode in ["seq", "tok"] {
        let mut state = engine.new_state();
        let logits = match mode {
            "seq" => engine.logits_seq(&tokens, &mut state),
            _ => engine.logits_tok(&tokens, &mut state),
        };
        let (shape, want) = read_f32(&st, &format!("logits_{mode}"));
        assert_eq!(logits.shape(), &shape[..]);
        let d = max_diff(logits.as_slice().unwrap(), &want);
        println!("{file} {mode} ({kernel:?} kernel): max |Δlogit| {d:.3e}");
        assert!(d <= TOL, "{file} {mode} mode: max |Δlogit| {d}");
        check_state(file, mode, &st, &state);
        worst = worst.max(d);
    }
    worst
}

#[test]
fn every_golden_checkpoint_matches_the_official_package() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap()).unwrap();
    let checkpoints = manifest["checkpoints"].as_array().unwrap();
    for ck in checkpoints {
        check(ck, Kernel::Fast);
    }
    assert!(checkpoints.len() >= 11);
}

#[test]
fn the_plain_kernels_match_the_official_package_too() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap()).unwrap();
    for ck in manifest["checkpoints"].as_array().unwrap() {
        check(ck, Kernel::Plain);
    }
}

/// The ln0 quirk is real: a pure-f32 ln0 on a bf16 RWKV-4 file leaves the package's numbers by far
/// more than the tolerance (measured: 7e-3).
#[test]
fn pure_f32_ln0_is_an_option_that_leaves_the_package() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap()).unwrap();
    let ck = manifest["checkpoints"].as_array().unwrap().iter().find(|c| c["file"] == "v4-bf16.pth").unwrap();
    let model = Model::open(&golden().join("v4-bf16.pth")).unwrap();
    let engine = Engine::load(&model, &Options { pure_f32_ln0: true }).unwrap();
    let logits = engine.logits_seq(&tokens(ck), &mut engine.new_state());
    let bytes = std::fs::read(golden().join("v4-bf16.official.safetensors")).unwrap();
    let (_, want) = read_f32(&SafeTensors::deserialize(&bytes).unwrap(), "logits_seq");
    let d = max_diff(logits.as_slice().unwrap(), &want);
    assert!(d > 10.0 * TOL, "pure f32 ln0 should differ visibly from the package, differs by {d}");
}

/// Stacked sequences (as LAMBADA batches documents): every checkpoint, the golden tokens twice
/// around a prefix of them, each from a fresh state. Each sequence's logits equal the package's
/// for its tokens, and the two whole sequences end in the package's final state.
#[test]
fn stacked_sequences_each_match_the_official_package() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap()).unwrap();
    for ck in manifest["checkpoints"].as_array().unwrap() {
        let file = ck["file"].as_str().unwrap();
        let tokens = tokens(ck);
        let bytes = std::fs::read(golden().join(ck["official"]["file"].as_str().unwrap())).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (shape, want) = read_f32(&st, "logits_seq");
        let vocab = shape[1];
        let engine = Engine::load(&Model::open(&golden().join(file)).unwrap(), &Options::default()).unwrap();
        let prefix = &tokens[..tokens.len() / 2];
        let seqs: Vec<&[u32]> = vec![&tokens, prefix, &tokens];
        let mut states: Vec<State> = seqs.iter().map(|_| engine.new_state()).collect();
        let logits = engine.head(engine.hidden_batch(&seqs, &mut states).view());
        let mut row = 0;
        for (s, state) in seqs.iter().zip(&states) {
            let got = &logits.as_slice().unwrap()[row * vocab..(row + s.len()) * vocab];
            let d = max_diff(got, &want[..s.len() * vocab]);
            assert!(d <= TOL, "{file}: a stacked sequence of {} tokens differs by {d}", s.len());
            if s.len() == tokens.len() {
                check_state(file, "seq", &st, state);
            }
            row += s.len();
        }
    }
}
