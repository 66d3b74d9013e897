//! Fine-tunes against outside truth (golden/finetune, made by torch and the official `rwkv`
//! package from RWKV-PEFT-format files): LoRA and PiSSA merges tensor for tensor against
//! RWKV-PEFT's formula, the merged models' logits against the package on the merged checkpoint,
//! and state-tuned states' logits against the package (v5.2, v6: its own `time_state` loading;
//! v7: started from the state as RWKV-Runner loads it). Then the same through the commands, and
//! the refusals.

mod common;

use convert::tuning::{AdapterSpec, TunedState};
use convert::{DType, Model};
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden("finetune/manifest.json")).unwrap()).unwrap()
}

fn fixture(name: &str) -> Value {
    manifest()["fixtures"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone()
}

fn tokens() -> Vec<u32> {
    manifest()["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect()
}

fn f32s(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
}

/// The base model of a fixture with its adapter merged (`alpha` for LoRA, the init for PiSSA).
fn merged(f: &Value) -> Model {
    let mut model = common::open_test_model(&golden(f["base"].as_str().unwrap().trim_start_matches("golden/")));
    let files = &f["files"];
    let spec = AdapterSpec {
        path: golden(&format!("finetune/{}", files["adapter"].as_str().unwrap())),
        alpha: f["alpha"].as_f64().map(|a| a as f32),
        pissa_init: files["init"].as_str().map(|i| golden(&format!("finetune/{i}"))),
    };
    let summary = model.merge_adapter(&spec).unwrap();
    let names =
        |k: &str| -> Vec<String> { f[k].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect() };
    assert_eq!(summary.merged, names("merged_tensors"), "{}", f["name"]);
    assert_eq!(summary.replaced, names("replaced_tensors"), "{}", f["name"]);
    model
}

/// Every tensor of the merged model against the torch merge: the merged and replaced ones equal
/// the fixture's bf16 values (a merged element may differ by one bf16 step, where torch's f32
/// product and ours, summed in another order, fall on two sides of a rounding boundary); every
/// other tensor is the base's, byte for byte.
fn assert_merge_matches(name: &str) {
    let f = fixture(name);
    let model = merged(&f);
    let base = Model::open(&golden(f["base"].as_str().unwrap().trim_start_matches("golden/"))).unwrap();
    let bytes = std::fs::read(golden(&format!("finetune/{}", f["files"]["merged"].as_str().unwrap()))).unwrap();
    let want = SafeTensors::deserialize(&bytes).unwrap();
    let (mut elements, mut off_by_one) = (0usize, 0usize);
    for t in &model.tensors {
        match want.tensor(&t.name) {
            Ok(w) => {
                assert_eq!(t.dtype, DType::BF16, "{name} {}", t.name);
                assert_eq!(t.squeezed_shape(), convert::tensor::squeeze(w.shape()), "{name} {}", t.name);
                for (a, b) in t.bytes().chunks_exact(2).zip(w.data().chunks_exact(2)) {
                    let (a, b) = (u16::from_le_bytes([a[0], a[1]]), u16::from_le_bytes([b[0], b[1]]));
                    // Same sign: adjacent bf16 values are adjacent integers.
                    let steps = if (a ^ b) & 0x8000 == 0 { a.abs_diff(b) } else { u16::MAX };
                    assert!(steps <= 1, "{name} {}: {a:#06x} vs torch {b:#06x}", t.name);
                    off_by_one += (steps == 1) as usize;
                    elements += 1;
                }
            }
            Err(_) => assert_eq!(t.bytes(), base.get(&t.name).unwrap().bytes(), "{name} {}: changed", t.name),
        }
    }
    eprintln!("{name}: {elements} elements of merged/replaced tensors, {off_by_one} one bf16 step away");
    assert!(off_by_one * 200 <= elements, "{name}: {off_by_one} of {elements} differ (more than 0.5%)");
}

#[test]
fn lora_merges_equal_rwkv_peft_formula_in_torch() {
    assert_merge_matches("v6-lora");
    assert_merge_matches("v7-lora");
}

#[test]
fn pissa_merge_equals_rwkv_peft_formula_in_torch() {
    assert_merge_matches("v7-pissa");
    // The init file as RWKV-PEFT's training writes it or as merge.py looks it up ('model.' keys).
    let f = fixture("v7-pissa");
    if let Some(native) = f["files"]["init_peft_native"].as_str() {
        let mut g = f.clone();
        g["files"]["init"] = Value::from(native);
        let a = merged(&f);
        let b = merged(&g);
        for (x, y) in a.tensors.iter().zip(&b.tensors) {
            assert_eq!(x.bytes(), y.bytes(), "{}", x.name);
        }
    }
}

#[test]
fn merged_models_give_the_official_logits_on_the_merged_checkpoint() {
    for name in ["v6-lora", "v7-lora", "v7-pissa"] {
        let model = merged(&fixture(name));
        let engine = reference::Engine::load(&model, &Default::default()).unwrap();
        let official = golden(&format!("finetune/{name}.official.safetensors"));
        let seq = engine.logits_seq(&tokens(), &mut engine.new_state());
        let tok = engine.logits_tok(&tokens(), &mut engine.new_state());
        let (ds, dt) = (
            max_diff(seq.as_slice().unwrap(), &f32s(&official, "logits_seq")),
            max_diff(tok.as_slice().unwrap(), &f32s(&official, "logits_tok")),
        );
        eprintln!("{name}: max |Δ logit| sequence {ds:.2e}, token {dt:.2e}");
        assert!(ds <= 1e-4 && dt <= 1e-4, "{name}: {ds} {dt}");
    }
}

#[test]
fn state_tuned_states_give_the_official_logits() {
    for (name, model) in [("v5.2-state", "v5.2-bf16.pth"), ("v6-state", "v6-bf16.pth"), ("v7-state", "v7-bf16.pth")] {
        let model = common::open_test_model(&golden(model));
        let tuned = TunedState::open(&golden(&format!("finetune/{name}.pth"))).unwrap();
        tuned.check(&model).unwrap();
        let mut engine = reference::Engine::load(&model, &Default::default()).unwrap();
        let zero = engine.logits_seq(&tokens(), &mut engine.new_state());
        engine.start_from(engine.tuned_state(&tuned));
        let official = golden(&format!("finetune/{name}.official.safetensors"));
        let mut state = engine.new_state();
        let seq = engine.logits_seq(&tokens(), &mut state);
        let tok = engine.logits_tok(&tokens(), &mut engine.new_state());
        let (ds, dt) = (
            max_diff(seq.as_slice().unwrap(), &f32s(&official, "logits_seq")),
            max_diff(tok.as_slice().unwrap(), &f32s(&official, "logits_tok")),
        );
        let moved = max_diff(seq.as_slice().unwrap(), zero.as_slice().unwrap());
        eprintln!("{name}: max |Δ logit| sequence {ds:.2e}, token {dt:.2e} (the state moves them by {moved:.2})");
        assert!(ds <= 1e-4 && dt <= 1e-4, "{name}: {ds} {dt}");
        assert!(moved > 0.1, "{name}: the state hardly matters ({moved}), so this proves little");
        // The final states too, in the package's layout.
        for (i, t) in state.tensors.iter().enumerate() {
            let d = max_diff(t.as_slice().unwrap(), &f32s(&official, &format!("state_seq.{i}")));
            assert!(d <= 1e-4 * (1.0 + t.iter().fold(0f32, |m, x| m.max(x.abs()))), "{name} state {i}: {d}");
        }
    }
}

/// `logits` through the command line: the model's logits (file `out`) for the golden tokens.
fn logits_cli(model: &Path, extra: &[&str], out: &Path) -> Vec<f32> {
    let join = tokens().iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",");
    let o = bin()
        .args(common::with_test_tokenizer(&["logits"]))
        .arg(model)
        .args(["--tokens", &join, "--force", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    f32s(out, "logits")
}

#[test]
fn commands_merge_adapters_and_start_from_states() {
    let dir = tempfile::tempdir().unwrap();
    let ft = |n: &str| golden(&format!("finetune/{n}")).display().to_string();
    let out = dir.path().join("l.safetensors");
    // logits --lora: the engine on the merged model.
    let got = logits_cli(&golden("v7-bf16.pth"), &["--lora", &ft("v7-lora.pth"), "--lora-alpha", "32"], &out);
    assert!(max_diff(&got, &f32s(&golden("finetune/v7-lora.official.safetensors"), "logits_seq")) <= 1e-4);
    // convert --lora to GGUF, then the GGUF alone (its matrices are the merged bf16 ones).
    let gguf = dir.path().join("merged.gguf");
    let o = bin()
        .args(common::with_test_tokenizer(&["convert"]))
        .arg(golden("v7-bf16.pth"))
        .args(["--to", "gguf"])
        .arg(&gguf)
        .args(["--lora", &ft("v7-pissa.pth"), "--lora-init", &ft("v7-pissa-init.pth")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("merged PiSSA r=8 from v7-pissa.pth: 6 matrices merged"));
    let got = logits_cli(&gguf, &[], &out);
    assert!(max_diff(&got, &f32s(&golden("finetune/v7-pissa.official.safetensors"), "logits_seq")) <= 1e-4);
    // A GGUF base takes the adapter too (its tensors read back under BlinkDL's names).
    let base_gguf = dir.path().join("base.gguf");
    let o = bin()
        .args(common::with_test_tokenizer(&["convert"]))
        .arg(golden("v7-bf16.pth"))
        .args(["--to", "gguf"])
        .arg(&base_gguf)
        .output()
        .unwrap();
    assert!(o.status.success());
    let got = logits_cli(&base_gguf, &["--lora", &ft("v7-lora.pth"), "--lora-alpha", "32"], &out);
    assert!(max_diff(&got, &f32s(&golden("finetune/v7-lora.official.safetensors"), "logits_seq")) <= 1e-4);
    // logits --state with a state-tuning file, and with the engine's own state file after it.
    let got = logits_cli(&golden("v6-bf16.pth"), &["--state", &ft("v6-state.pth")], &out);
    assert!(max_diff(&got, &f32s(&golden("finetune/v6-state.official.safetensors"), "logits_seq")) <= 1e-4);
    let own = dir.path().join("own.safetensors");
    std::fs::copy(&out, &own).unwrap();
    let again = logits_cli(&golden("v6-bf16.pth"), &["--state", own.to_str().unwrap()], &out);
    assert_ne!(again, got, "an engine state file starts where the earlier call ended");
}

#[test]
fn eval_verify_and_bench_take_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let lambada = dir.path().join("lambada.jsonl");
    let docs = ["The cat sat on the mat and looked at the dog", "She opened the door and saw the garden"];
    std::fs::write(&lambada, docs.map(|d| serde_json::json!({ "text": d }).to_string() + "\n").concat()).unwrap();
    let state = golden("finetune/v7-state.pth");
    let model = golden("v7-bf16.pth");
    let run = |args: &[&str], with_state: bool| -> Value {
        let mut c = bin();
        c.args(common::with_test_tokenizer(args));
        if with_state {
            c.arg("--state").arg(&state);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let m = model.to_str().unwrap();
    let l = lambada.to_str().unwrap();
    let eval = |s| run(&["eval", m, "--lambada", l, "--json"], s)["ppl"].as_f64().unwrap();
    assert_ne!(eval(false), eval(true), "eval --state changes LAMBADA perplexity");
    // The same file as source and candidate, both from the state: nothing differs.
    let v = run(&["verify", m, m, "--json"], true);
    assert_eq!(v["quality"]["kl_max"].as_f64(), Some(0.0), "{v}");
    let b = run(&["bench", m, "--prefill", "8", "--decode", "2", "--reps", "1", "--json"], true);
    assert!(b.is_object());
}

/// A torch file of bf16 tensors (name, shape, values).
fn save_bf16(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let t: Vec<(String, DType, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            let bytes = v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
            (n.to_string(), DType::BF16, s.clone(), bytes)
        })
        .collect();
    convert::torch::writer::save(path, &t).unwrap();
}

#[test]
fn bad_adapters_and_states_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("v7-bf16.pth");
    let lora = |name: &str, tensors: &[(&str, Vec<usize>, Vec<f32>)]| -> String {
        let p = dir.path().join(name);
        save_bf16(&p, tensors);
        let mut model = Model::open(&base).unwrap();
        let spec = AdapterSpec { path: p, alpha: Some(8.0), pissa_init: None };
        model.merge_adapter(&spec).expect_err("refused").to_string()
    };
    let z = |n: usize| vec![0.0; n];
    let e = lora(
        "rank.pth",
        &[("blocks.0.att.key.lora_A", vec![4, 128], z(512)), ("blocks.0.att.key.lora_B", vec![128, 8], z(1024))],
    );
    assert!(e.contains("rank.pth") && e.contains("blocks.0.att.key.lora_A") && e.contains("does not fit"), "{e}");
    let e = lora(
        "width.pth",
        &[("blocks.0.ffn.key.lora_A", vec![4, 64], z(256)), ("blocks.0.ffn.key.lora_B", vec![512, 4], z(2048))],
    );
    assert!(e.contains("blocks.0.ffn.key.lora_A") && e.contains("[512, 128]"), "{e}");
    let e = lora("half.pth", &[("blocks.0.att.key.lora_A", vec![4, 128], z(512))]);
    assert!(e.contains("has no blocks.0.att.key.lora_B"), "{e}");
    let e = lora(
        "nobase.pth",
        &[("blocks.9.att.key.lora_A", vec![4, 128], z(512)), ("blocks.9.att.key.lora_B", vec![128, 4], z(512))],
    );
    assert!(e.contains("blocks.9.att.key.weight"), "{e}");
    let e = lora("whole.pth", &[("blocks.0.att.w0", vec![1, 1, 64], z(64))]);
    assert!(e.contains("blocks.0.att.w0") && e.contains("[1, 1, 64]"), "{e}");
    let e = lora("state.pth", &[("blocks.0.att.time_state", vec![2, 64, 64], z(8192))]);
    assert!(e.contains("holds only state-tuned states") && e.contains("--state"), "{e}");
    // A merge that overflows the stored type.
    let e = lora(
        "huge.pth",
        &[
            ("blocks.0.att.key.lora_A", vec![1, 128], vec![1e30; 128]),
            ("blocks.0.att.key.lora_B", vec![128, 1], vec![1e30; 128]),
        ],
    );
    assert!(e.contains("blocks.0.att.key.weight") && e.contains("merged value"), "{e}");

    // States: a wrong layer count, RWKV-4, a gap.
    let state = |name: &str, tensors: &[(&str, Vec<usize>, Vec<f32>)], model: &str| -> String {
        let p = dir.path().join(name);
        save_bf16(&p, tensors);
        let model = Model::open(&golden(model)).unwrap();
        match TunedState::open(&p) {
            Err(e) => e.to_string(),
            Ok(s) => s.check(&model).expect_err("refused").to_string(),
        }
    };
    let e = state("one.pth", &[("blocks.0.att.time_state", vec![2, 64, 64], z(8192))], "v7-bf16.pth");
    assert!(e.contains("one.pth") && e.contains("1 layers") && e.contains("2 layers"), "{e}");
    let e = state("v4.pth", &[("blocks.0.att.time_state", vec![2, 64, 64], z(8192))], "v4-bf16.pth");
    assert!(e.contains("RWKV-4"), "{e}");
    let e = state("gap.pth", &[("blocks.1.att.time_state", vec![2, 64, 64], z(8192))], "v7-bf16.pth");
    assert!(e.contains("blocks.0.att.time_state") && e.contains("missing"), "{e}");
    let e = state("flat.pth", &[("blocks.0.att.time_state", vec![2, 4096], z(8192))], "v7-bf16.pth");
    assert!(e.contains("not [heads, head_size, head_size]"), "{e}");

    // An adapter, init or state file opened as a model says what it is and where it goes.
    for (file, says) in [
        ("finetune/v6-lora.pth", "--lora ADAPTER"),
        ("finetune/v7-pissa-init.pth", "--lora-init"),
        ("finetune/v7-state.pth", "--state FILE"),
    ] {
        let e = Model::open(&golden(file)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(says), "{file}: {e}");
    }

    // A torch file is told from a safetensors state by its head, also a legacy stream in protocol
    // 4 (magic after 23 bytes): it is read as a state-tuning file, not as safetensors.
    let o = bin()
        .args(common::with_test_tokenizer(&["logits"]))
        .arg(&base)
        .args(["--tokens", "1,2", "--force", "--out"])
        .arg(dir.path().join("never.safetensors"))
        .arg("--state")
        .arg(golden("torch-family/sizes-legacy-protocol4.pth"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("no state-tuning file"), "{e}");

    // On the command line: a non-zero exit and the message, no output file.
    let out = dir.path().join("never.gguf");
    let o = bin()
        .args(common::with_test_tokenizer(&["convert"]))
        .arg(&base)
        .args(["--to", "gguf"])
        .arg(&out)
        .args(["--lora"])
        .arg(dir.path().join("rank.pth"))
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("does not fit"));
    assert!(!out.exists());
    let o = bin()
        .args(common::with_test_tokenizer(&["run"]))
        .arg(&base)
        .args([
            "--prompt",
            "hi",
            "--lora",
            "a.pth",
            "--lora",
            "b.pth",
            "--lora-alpha",
            "1",
            "--lora-alpha",
            "2",
            "--lora-alpha",
            "3",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--lora-alpha is given 3 times"));
    let o = bin()
        .args(common::with_test_tokenizer(&["run"]))
        .arg(&base)
        .args(["--prompt", "hi", "--lora", "a.pth", "--lora-init", "i.pth", "--lora-alpha", "16"])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("does not apply to PiSSA"));
}

#[test]
fn release_and_hf_folders_carry_the_merge_and_record_it() {
    let dir = tempfile::tempdir().unwrap();
    let ft = |n: &str| golden(&format!("finetune/{n}")).display().to_string();
    let f = fixture("v6-lora");
    let want_bytes = std::fs::read(golden("finetune/v6-lora.merged.safetensors")).unwrap();
    let want = SafeTensors::deserialize(&want_bytes).unwrap();
    // An HF folder of the merged model reads back to the merged tensors.
    let hf = dir.path().join("hf");
    let o = bin()
        .args(common::with_test_tokenizer(&["convert"]))
        .arg(golden("v6-bf16.pth"))
        .args(["--to", "hf"])
        .arg(&hf)
        .args(["--lora", &ft("v6-lora.pth"), "--lora-alpha", "32"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = Model::open(&hf).unwrap();
    for name in f["merged_tensors"].as_array().unwrap().iter().chain(f["replaced_tensors"].as_array().unwrap()) {
        let name = name.as_str().unwrap();
        assert_eq!(back.get(name).unwrap().bytes(), want.tensor(name).unwrap().data(), "{name}");
    }
    // A release names the adapter in its manifest and card, and measures against the merged model:
    // its bf16 file is within ln0's rounding of it (the adapter moves the logits by up to 1.95).
    let out = dir.path().join("rel");
    let o = bin()
        .args(common::with_test_tokenizer(&["release"]))
        .arg(golden("v6-bf16.pth"))
        .args(["--name", "tuned", "--types", "bf16,q8_0", "--eval-tokens", "200", "--out"])
        .arg(&out)
        .args(["--lora", &ft("v6-lora.pth"), "--lora-alpha", "32"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let a = &m["source"]["adapters"][0];
    assert_eq!(
        (a["file"].as_str(), a["kind"].as_str(), a["alpha"].as_f64()),
        (Some("v6-lora.pth"), Some("lora"), Some(32.0))
    );
    let bf16 = m["files"].as_array().unwrap().iter().find(|e| e["file"] == "tuned-bf16.gguf").unwrap();
    assert!(bf16["measured"]["quality"]["kl_max"].as_f64().unwrap() < 1e-4, "{bf16}");
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains("LoRA adapter `v6-lora.pth` (α 32)"), "{card}");
    // Without the adapter the same folder is another source's release.
    let o = bin()
        .args(common::with_test_tokenizer(&["release"]))
        .arg(golden("v6-bf16.pth"))
        .args(["--name", "tuned", "--types", "bf16", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("another source"));
}

/// `base` with the state file's tensors added, as RWKV-PEFT's merge_state.py writes it.
fn with_states(base: &Path, states: &Path, out: &Path) {
    let mut tensors = Vec::new();
    for p in [base, states] {
        let ckpt = convert::torch::TorchCheckpoint::open(p).unwrap();
        for t in ckpt.tensors {
            tensors.push((t.name.clone(), t.dtype, t.shape.clone(), t.bytes().to_vec()));
        }
    }
    convert::torch::writer::save(out, &tensors).unwrap();
}

#[test]
fn state_tuned_model_files_start_from_their_own_states() {
    let dir = tempfile::tempdir().unwrap();
    for (name, base) in [("v6-state", "v6-bf16.pth"), ("v7-state", "v7-bf16.pth")] {
        let file = dir.path().join(format!("{name}-merged.pth"));
        with_states(&golden(base), &golden(&format!("finetune/{name}.pth")), &file);
        let model = common::open_test_model(&file);
        assert!(model.hparams.has_time_state);
        let engine = reference::Engine::load(&model, &Default::default()).unwrap();
        let seq = engine.logits_seq(&tokens(), &mut engine.new_state());
        let official = golden(&format!("finetune/{name}.official.safetensors"));
        let d = max_diff(seq.as_slice().unwrap(), &f32s(&official, "logits_seq"));
        assert!(d <= 1e-4, "{name}: {d}");
        // Its GGUF cannot hold the states: the conversion says so, and `verify` measures the GGUF
        // from the source's states (from zeros it would be far off).
        let gguf = dir.path().join(format!("{name}.gguf"));
        let o = bin()
            .args(common::with_test_tokenizer(&["convert"]))
            .arg(&file)
            .args(["--to", "gguf", "--outtype", "f32"])
            .arg(&gguf)
            .output()
            .unwrap();
        assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("they are not written"));
        let o =
            bin().args(common::with_test_tokenizer(&["verify"])).arg(&file).arg(&gguf).arg("--json").output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        // (v6: the f32 GGUF applies ln0 in f32, the package rounds it to bf16: KL ~3e-5.)
        assert!(v["quality"]["kl_max"].as_f64().unwrap() < 1e-3, "{name}: {v}");
    }
}

#[test]
fn an_adapter_trained_with_states_merges_and_serves_as_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("lora-and-state.pth");
    with_states(&golden("finetune/v7-lora.pth"), &golden("finetune/v7-state.pth"), &both);
    let mut model = common::open_test_model(&golden("v7-bf16.pth"));
    let summary =
        model.merge_adapter(&AdapterSpec { path: both.clone(), alpha: Some(32.0), pissa_init: None }).unwrap();
    assert_eq!((summary.merged.len(), summary.replaced.len(), summary.states), (12, 2, 2));
    let mut lora_only = common::open_test_model(&golden("v7-bf16.pth"));
    lora_only
        .merge_adapter(&AdapterSpec { path: golden("finetune/v7-lora.pth"), alpha: Some(32.0), pissa_init: None })
        .unwrap();
    for (a, b) in model.tensors.iter().zip(&lora_only.tensors) {
        assert_eq!(a.bytes(), b.bytes(), "{}", a.name);
    }
    let from_both = TunedState::open(&both).unwrap();
    let alone = TunedState::open(&golden("finetune/v7-state.pth")).unwrap();
    assert_eq!(from_both.layers, alone.layers);
}
