//! RWKV-4 Pile models end to end: a 50277-row RWKV-4 with the GPT-NeoX-20B tokenizer
//! (golden/neox/v4-neox-bf16.pth) against what outside code made of it (golden/neox, by
//! golden/neox/make_neox_golden.py): the official `rwkv` package's logits, greedy continuation and
//! LAMBADA, and llama.cpp's own GPT-NeoX vocabulary for the GGUF tokenizer. Every check runs on the
//! `.pth`, the GGUF and the HF folder the CLI makes of it, each with no `--tokenizer`.

mod common;

use common::sha256_hex;
use convert::gguf::{GgufFile, Value};
use convert::Model;
use reference::{Engine, Options};
use safetensors::SafeTensors;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// As the other engine goldens (tests/engine_golden.rs).
const TOL: f32 = 1e-4;

fn neox_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/neox")
}

fn expected() -> Json {
    serde_json::from_str(&std::fs::read_to_string(neox_dir().join("expected.json")).unwrap()).unwrap()
}

fn ids(v: &Json) -> Vec<u32> {
    common::ids(v)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The checkpoint, and the GGUF and HF folder `convert` makes of it (no `--tokenizer`: 50277 rows
/// say GPT-NeoX-20B).
fn forms(dir: &Path) -> Vec<PathBuf> {
    let pth = neox_dir().join("v4-neox-bf16.pth");
    let (gguf, hf) = (dir.join("v4-neox.gguf"), dir.join("hf"));
    ok(bin().arg("convert").arg(&pth).args(["--to", "gguf"]).arg(&gguf).output().unwrap());
    ok(bin().arg("convert").arg(&pth).args(["--to", "hf"]).arg(&hf).output().unwrap());
    vec![pth, gguf, hf]
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    st.tensor(name).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn f64s(st: &SafeTensors, name: &str) -> Vec<f64> {
    st.tensor(name).unwrap().data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
}

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    st.tensor(name).unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

/// `log Σ exp(row)` in f64.
fn lse(row: &[f32]) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max
}

/// Logits at every position (the package keeps 3363 of the 50277 columns, and each row's
/// log-sum-exp and argmax over all of them), and the greedy continuation of the prompt: the same
/// from the `.pth`, its GGUF and its HF folder, whose tokenizer is GPT-NeoX-20B's by size or
/// their own.
#[test]
fn every_form_gives_the_official_logits_and_greedy_continuation() {
    let e = expected();
    let bytes = std::fs::read(neox_dir().join("v4-neox-bf16.official.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let cols = i64s(&st, "logit_cols");
    let tokens = ids(&e["tokens"]);
    let dir = tempfile::tempdir().unwrap();
    for (i, path) in forms(dir.path()).into_iter().enumerate() {
        // The GGUF keeps ln0 in F32, so the engine applies it in f32: the package on the
        // fp32-widened checkpoint. The `.pth` and the HF folder (bf16 throughout) have the
        // package's ln0 in bf16.
        let which = if i == 1 { "logits_seq_fp32_widened" } else { "logits_seq" };
        let want = f32s(&st, which);
        let (want_lse, want_argmax) =
            (f64s(&st, &format!("{which}_row_lse")), i64s(&st, &format!("{which}_row_argmax")));
        let model = Model::open(&path).unwrap();
        assert_eq!(model.tokenizer().unwrap().name(), "GPT-NeoX-20B", "{}", path.display());
        let engine = Engine::load(&model, &Options::default()).unwrap();
        let logits = engine.logits_seq(&tokens, &mut engine.new_state());
        let mut worst = 0f32;
        for (t, row) in logits.outer_iter().enumerate() {
            let row = row.as_slice().unwrap();
            for (k, &c) in cols.iter().enumerate() {
                worst = worst.max((row[c as usize] - want[t * cols.len() + k]).abs());
            }
            assert!((lse(row) - want_lse[t]).abs() <= TOL as f64, "{} row {t}: log-sum-exp", path.display());
            assert_eq!(reference::sample::argmax(row) as i64, want_argmax[t], "{} row {t}: argmax", path.display());
        }
        println!("{} against {which}: max |Δlogit| {worst:.2e}", path.display());
        assert!(worst <= TOL, "{}: max |Δlogit| {worst}", path.display());

        // Greedy: the prompt in one pass, then a token at a time.
        let mut state = engine.new_state();
        let prompt = ids(&e["greedy"]["prompt_ids"]);
        let hidden = engine.hidden(&prompt, &mut state);
        let mut logits = engine.head(hidden.slice(ndarray::s![hidden.nrows() - 1.., ..]));
        let mut got = Vec::new();
        for _ in 0..32 {
            let t = reference::sample::argmax(logits.row(0).as_slice().unwrap()) as u32;
            got.push(t);
            logits = engine.logits_seq(&[t], &mut state);
        }
        assert_eq!(got, ids(&e["greedy"]["ids"]), "{}: greedy continuation", path.display());
    }
}

/// `run --temperature 0` streams the official greedy continuation's bytes (token by token, partial
/// UTF-8 characters held back), from the prompt text through the shipped tokenizer.
#[test]
fn run_continues_the_prompt_as_the_official_package() {
    let e = expected();
    let pth = neox_dir().join("v4-neox-bf16.pth");
    let prompt = e["greedy"]["prompt"].as_str().unwrap();
    let out = bin()
        .arg("run")
        .arg(&pth)
        .args(["--prompt", prompt, "--temperature", "0", "--max-tokens", "32"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = reference::tokenizer::BpeTokenizer::neox();
    assert_eq!(t.encode(prompt).unwrap(), ids(&e["greedy"]["prompt_ids"]));
    let mut want: Vec<u8> = ids(&e["greedy"]["ids"]).iter().flat_map(|&id| t.token_bytes(id).to_vec()).collect();
    want.push(b'\n');
    assert_eq!(out.stdout, want);
}

/// The GGUF's tokenizer is what llama.cpp's converter writes for GPT-NeoX-20B: the tokens, token
/// types and merges of llama.cpp's own `models/ggml-vocab-gpt-neox.gguf` (its first 50277 ids),
/// `gpt2` with the pre-tokenizer its converter names, `<|endoftext|>` as bos/eos/unk; `inspect`
/// says so. The HF folder carries the tokenizer JSON as shipped and a GPTNeoXTokenizer config.
#[test]
fn the_gguf_and_hf_tokenizers_are_llama_cpps_and_gpt_neox_20bs() {
    let e = expected();
    let v = &e["gguf_vocab"];
    let dir = tempfile::tempdir().unwrap();
    let forms = forms(dir.path());
    let f = GgufFile::open(&forms[1]).unwrap();
    let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("{k}")).to_string();
    let u = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or_else(|| panic!("{k}"));
    assert_eq!(s("tokenizer.ggml.model"), v["tokenizer_ggml_model"].as_str().unwrap());
    assert_eq!(s("tokenizer.ggml.pre"), e["gguf_pre"]["function_returns"].as_str().unwrap());
    for (key, want) in
        [("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"), ("unknown_token_id", "unk_token_id")]
    {
        assert_eq!(u(&format!("tokenizer.ggml.{key}")), v[want].as_u64().unwrap(), "{key}");
    }
    // The goldens hash each string as a u32 length then its bytes, the types as i32s.
    let strings = |k: &str| -> String {
        let Some(Value::Array(_, items)) = f.get(k) else { panic!("{k}") };
        let mut packed = Vec::new();
        for item in items {
            let s = item.as_str().unwrap().as_bytes();
            packed.extend((s.len() as u32).to_le_bytes());
            packed.extend(s);
        }
        sha256_hex(&packed)
    };
    assert_eq!(strings("tokenizer.ggml.tokens"), v["tokens_sha256"].as_str().unwrap());
    assert_eq!(strings("tokenizer.ggml.merges"), v["merges_sha256"].as_str().unwrap());
    let Some(Value::Array(_, types)) = f.get("tokenizer.ggml.token_type") else { panic!("types") };
    let packed: Vec<u8> = types.iter().flat_map(|t| (t.as_u64().unwrap() as i32).to_le_bytes()).collect();
    assert_eq!(sha256_hex(&packed), v["token_types_sha256"].as_str().unwrap());
    let shown = ok(bin().arg("inspect").arg(&forms[1]).output().unwrap());
    assert!(shown.contains("tokenizer   GPT-NeoX-20B (the file's own)"), "{shown}");
    assert!(shown.contains("tokenizer.ggml.model") && shown.contains("\"gpt2\""), "{shown}");

    let hf = &forms[2];
    assert_eq!(std::fs::read(hf.join("tokenizer.json")).unwrap(), convert::vocab::NEOX_TOKENIZER_JSON);
    let json = |f: &str| -> Json { serde_json::from_slice(&std::fs::read(hf.join(f)).unwrap()).unwrap() };
    let tc = json("tokenizer_config.json");
    assert_eq!(tc["tokenizer_class"], "GPTNeoXTokenizer");
    for k in ["bos_token", "eos_token", "unk_token"] {
        assert_eq!(tc[k], "<|endoftext|>");
        assert_eq!(json("special_tokens_map.json")[k], "<|endoftext|>");
    }
    let config = json("config.json");
    assert_eq!((config["vocab_size"].as_u64(), config["context_length"].as_u64()), (Some(50277), Some(1024)));
    assert!(!hf.join("rwkv_vocab_v20230424.txt").exists());
}

/// `eval --lambada` on every document, against the package. Per document (summed target
/// log-probability, argmax verdicts): the GGUF, whose ln0 is F32 and so applied in f32, against
/// the package on the fp32-widened checkpoint; the `.pth` against the package on the file itself,
/// which applies ln0 in bf16 (the engine rounds the same LayerNorm's f32 result to bf16, which
/// can differ from torch's bf16 kernel by one unit in the last place). Totals: the CLI's
/// perplexity and accuracy from the `.pth`, the GGUF and the HF folder within 1e-3 of the
/// package's.
#[test]
fn lambada_equals_the_official_package_from_every_form() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/lambada_test.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not here (the shared data folder is absent)", path.display());
        return;
    };
    let e = expected();
    let lam = &e["lambada"];
    let dir = tempfile::tempdir().unwrap();
    let forms = forms(dir.path());
    let official: Vec<(f64, bool)> =
        lam["per_doc"].as_array().unwrap().iter().map(|d| (d[0].as_f64().unwrap(), d[1] == 1)).collect();
    let widened: Vec<f64> =
        lam["fp32_widened"]["per_doc_logprob"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap()).collect();
    for (form, want, tol) in
        [(&forms[0], official.iter().map(|d| d.0).collect::<Vec<_>>(), 1e-2), (&forms[1], widened, 1e-3)]
    {
        let model = Model::open(form).unwrap();
        let engine = Engine::load(&model, &Options::default()).unwrap();
        let tok = reference::tokenizer::TextTokenizer::new(&model.tokenizer().unwrap(), 50277).unwrap();
        let docs = reference::eval::lambada_docs(&text, &tok).unwrap();
        let scores = reference::eval::score(&engine, &docs);
        assert_eq!(scores.len(), want.len());
        let diffs: Vec<f64> = scores.iter().zip(&want).map(|(s, w)| (s.0 - w).abs()).collect();
        let worst = diffs.iter().fold(0f64, |m, &d| m.max(d));
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        println!("{}: LAMBADA per document |Δ log p| max {worst:.2e}, mean {mean:.2e}", form.display());
        assert!(worst <= tol, "{}: max |Δ log p| {worst}", form.display());
        let verdicts = scores.iter().zip(&official).filter(|(s, o)| s.1 != o.1).count();
        assert_eq!(verdicts, 0, "{}: documents whose argmax verdict differs", form.display());
    }
    let (ppl, acc) = (lam["ppl"].as_f64().unwrap(), lam["acc"].as_f64().unwrap());
    for form in &forms {
        let o = ok(bin().arg("eval").arg(form).arg("--lambada").arg(&path).arg("--json").output().unwrap());
        let r: Json = serde_json::from_str(&o).unwrap();
        let rel = (r["ppl"].as_f64().unwrap() / ppl - 1.0).abs();
        println!("{}: ppl {} (official {ppl}, relative {rel:.1e}), acc {}", form.display(), r["ppl"], r["acc"]);
        assert!(rel <= 1e-3, "{}: ppl {} vs {ppl}", form.display(), r["ppl"]);
        assert_eq!(r["acc"].as_f64().unwrap(), acc, "{}", form.display());
        assert_eq!(r["docs"].as_u64(), lam["n_docs"].as_u64());
        assert_eq!(r["tokens"].as_u64(), lam["input_tokens"].as_u64());
    }
}

/// `release`, `verify` and `imatrix` on a NeoX model, with no `--tokenizer`: the card names the
/// tokenizer (and no World chat template), every file carries GPT-NeoX-20B's, and the evaluation
/// text is tokenized with it.
#[test]
fn release_verify_and_imatrix_run_on_a_neox_model() {
    let pth = neox_dir().join("v4-neox-bf16.pth");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/tokenizer/corpus.txt");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rel");
    ok(bin()
        .arg("release")
        .arg(&pth)
        .args(["--name", "neox", "--types", "q8_0", "--hf", "--eval-tokens", "600", "--out"])
        .arg(&out)
        .arg("--eval")
        .arg(&corpus)
        .output()
        .unwrap());
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains("vocabulary 50277 (GPT-NeoX-20B tokenizer)"), "{card}");
    assert!(!card.contains("World chat template"), "{card}");
    for form in [out.join("neox-q8_0.gguf"), out.join("hf")] {
        assert_eq!(Model::open(&form).unwrap().tokenizer().unwrap().name(), "GPT-NeoX-20B", "{}", form.display());
    }
    let v: Json = serde_json::from_str(&ok(bin()
        .arg("verify")
        .arg(&pth)
        .arg(out.join("neox-q8_0.gguf"))
        .arg("--text")
        .arg(&corpus)
        .arg("--json")
        .output()
        .unwrap()))
    .unwrap();
    // The corpus through GPT-NeoX-20B (as golden/tokenizer/expected_neox.json counts it), capped at
    // the default 2048 evaluation tokens; Q8_0 stays close.
    let n = common::tokenizer_golden("expected_neox.json").1["corpus_ids"].as_array().unwrap().len().min(2048);
    assert_eq!(v["quality"]["positions"].as_u64(), Some(n as u64 - 1));
    assert!(v["quality"]["kl_mean"].as_f64().unwrap() < 0.05, "{v}");
    let im = dir.path().join("im.gguf");
    ok(bin().arg("imatrix").arg(&pth).arg("--text").arg(&corpus).arg("-o").arg(&im).output().unwrap());
    assert!(convert::gguf::imatrix::Imatrix::load(&im).is_ok());
}
