//! `release`, `verify` and `imatrix` end to end on the golden RWKV-7 checkpoint: every file of the
//! default set is byte-identical to what llama.cpp's converter and `llama_model_quantize` made
//! (golden/gguf/), the card and manifest are written, `verify --manifest` catches a flipped
//! byte, the quality table is sane, and a killed run resumes to the same bytes.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
}

fn run(args: &[&str]) -> Output {
    bin().args(common::with_test_tokenizer(args)).output().expect("run rwkv-convert")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "failed:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// The golden SHA-256 of llama.cpp's file for a release variant of `v7-bf16.pth`.
fn llama_cpp_sha256(suffix: &str) -> String {
    let read = |p: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(root().join(p)).unwrap()).unwrap() };
    match suffix {
        "bf16" => read("golden/gguf/v7-bf16.bf16.json")["sha256"].as_str().unwrap().to_string(),
        "f16" => read("golden/gguf/v7-bf16.f16.json")["sha256"].as_str().unwrap().to_string(),
        _ => {
            let label = match suffix {
                "q8_0" => "Q8_0",
                "q6_k" => "Q6_K",
                "q4_k" => "Q4_K_M",
                "q4_k_s" => "Q4_K_S",
                "q4_0" => "Q4_0",
                "iq3_xs" => "IQ3_XS",
                "iq3_m" => "IQ3_M",
                other => other,
            };
            let q = read("golden/gguf/quantized.json");
            q["files"][format!("v7-bf16.bf16.{label}.gguf")]["sha256"].as_str().unwrap().to_string()
        }
    }
}

const SET: [&str; 11] =
    ["bf16", "f16", "bf16-q8_0", "f16-q8_0", "q8_0", "q6_k", "q4_k", "q4_k_s", "q4_0", "iq3_xs", "iq3_m"];

fn release(out: &Path, extra: &[&str]) -> Output {
    let model = root().join("golden/v7-bf16.pth");
    let text = root().join("golden/tokenizer/corpus.txt");
    let mut args = vec![
        "release",
        model.to_str().unwrap(),
        "--name",
        "v7 Bf16",
        "--out",
        out.to_str().unwrap(),
        "--eval",
        text.to_str().unwrap(),
        "--eval-tokens",
        "600",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn entry<'a>(m: &'a Value, file: &str) -> &'a Value {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in manifest"))
}

#[test]
fn default_set_is_llama_cpps_bytes_with_card_manifest_and_sane_quality() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rel");
    ok(&release(&out, &[]));
    let m = manifest(&out);
    for s in SET {
        let file = format!("v7 Bf16-{s}.gguf");
        let e = entry(&m, &file);
        assert_eq!(e["sha256"].as_str().unwrap(), llama_cpp_sha256(s), "{file} differs from llama.cpp's");
        assert!(out.join(format!("v7 Bf16-{s}.tensors.json")).exists());
    }
    // llama.cpp's S/M/XS rules match no RWKV tensor: those files share every tensor byte, and the
    // second of each pair is made by copying (still llama.cpp's bytes, checked above).
    assert_eq!(entry(&m, "v7 Bf16-q4_k_s.gguf")["same_tensors_as"], "v7 Bf16-q4_k.gguf");
    assert_eq!(entry(&m, "v7 Bf16-iq3_m.gguf")["same_tensors_as"], "v7 Bf16-iq3_xs.gguf");
    assert!(entry(&m, "v7 Bf16-q4_0.gguf").get("same_tensors_as").is_none());
    for f in ["README.md", "manifest.json", "SHA256SUMS", "B3SUMS"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.starts_with("---\nlicense: apache-2.0\n"), "{card}");
    assert!(
        card.contains("pipeline_tag: text-generation") && card.contains("| [v7 Bf16-q4_k.gguf](v7 Bf16-q4_k.gguf) |")
    );
    assert!(card.contains("llama-cli -m"));

    // Sanity of the measured quality: 16-bit files agree almost always; KL grows as bits fall.
    let q = |s: &str| entry(&m, &format!("v7 Bf16-{s}.gguf"))["measured"]["quality"].clone();
    let kl = |s: &str| q(s)["kl_mean"].as_f64().unwrap();
    for s in ["bf16", "f16"] {
        assert!(q(s)["top1_agreement"].as_f64().unwrap() > 0.99, "{s}: {}", q(s));
    }
    assert_eq!(kl("bf16"), 0.0, "the bf16 file holds the source's own values");
    assert!(kl("f16") < kl("q8_0") && kl("q8_0") < kl("q4_k") && kl("q4_k") < kl("iq3_m"), "{m}");
    assert!(kl("q8_0") <= kl("q6_k") && kl("q6_k") < kl("q4_k"));

    // verify --manifest passes, then fails after one flipped byte, naming the file.
    ok(&run(&["verify", "--manifest", out.to_str().unwrap()]));
    let victim = out.join("v7 Bf16-q4_0.gguf");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    let o = run(&["verify", "--manifest", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("FAIL  v7 Bf16-q4_0.gguf"), "{text}");
    assert_eq!(text.matches("FAIL").count(), 1, "{text}");

    // A rerun remakes just the damaged file, to the same bytes.
    ok(&release(&out, &[]));
    ok(&run(&["verify", "--manifest", out.to_str().unwrap()]));
    assert_eq!(entry(&manifest(&out), "v7 Bf16-q4_0.gguf")["sha256"].as_str().unwrap(), llama_cpp_sha256("q4_0"));
}

#[test]
fn verify_compares_two_files_and_fails_past_max_kl() {
    let dir = tempfile::tempdir().unwrap();
    let (src, text) = (root().join("golden/v7-bf16.pth"), root().join("golden/tokenizer/corpus.txt"));
    let q = dir.path().join("q4.gguf");
    ok(&run(&["convert", src.to_str().unwrap(), "--to", "gguf", q.to_str().unwrap(), "--outtype", "Q4_0"]));
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", src.to_str().unwrap(), q.to_str().unwrap(), "--text", text.to_str().unwrap()];
        args.extend_from_slice(&["--eval-tokens", "400"]);
        args.extend_from_slice(extra);
        run(&args)
    };
    let o = verify(&["--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kl = v["quality"]["kl_mean"].as_f64().unwrap();
    assert!(kl > 0.0 && v["quality"]["positions"] == 399, "{v}");
    let o = verify(&["--max-kl", &format!("{}", kl / 2.0)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("above --max-kl"), "{}", String::from_utf8_lossy(&o.stderr));
    // Without --text or --lambada: the built-in evaluation text, named in the report.
    let o = run(&["verify", src.to_str().unwrap(), q.to_str().unwrap(), "--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["evaluation"].as_str().unwrap().contains("built-in evaluation text"), "{v}");
    assert!(
        v["quality"]["positions"].as_u64().unwrap() > 1000 && v["quality"]["kl_mean"].as_f64().unwrap() > 0.0,
        "{v}"
    );
}

#[test]
fn imatrix_from_the_engine_is_read_back_and_changes_weighted_types() {
    let dir = tempfile::tempdir().unwrap();
    let (src, text) = (root().join("golden/v7-bf16.pth"), root().join("golden/tokenizer/corpus.txt"));
    let im = dir.path().join("imatrix.gguf");
    ok(&run(&[
        "imatrix",
        src.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "-o",
        im.to_str().unwrap(),
        "--chunk",
        "256",
    ]));
    let f = dir.path().join("bf16.gguf");
    ok(&run(&["convert", src.to_str().unwrap(), "--to", "gguf", f.to_str().unwrap()]));
    let (plain, weighted) = (dir.path().join("plain.gguf"), dir.path().join("weighted.gguf"));
    ok(&run(&["quantize", f.to_str().unwrap(), plain.to_str().unwrap(), "IQ4_NL"]));
    ok(&run(&[
        "quantize",
        f.to_str().unwrap(),
        weighted.to_str().unwrap(),
        "IQ4_NL",
        "--imatrix",
        im.to_str().unwrap(),
    ]));
    assert_ne!(std::fs::read(&plain).unwrap(), std::fs::read(&weighted).unwrap());
    // Its records: the matrices llama-imatrix records, the whole chunks' token count,
    // llama-imatrix's keys; no output.weight by default, as llama-imatrix.
    let g = convert::gguf::GgufFile::open(&im).unwrap();
    assert_eq!(g.get("general.type").and_then(|v| v.as_str()), Some("imatrix"));
    assert_eq!(g.get("imatrix.chunk_size").and_then(|v| v.as_u64()), Some(256));
    let chunks = g.get("imatrix.chunk_count").and_then(|v| v.as_u64()).unwrap();
    let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
    // 26 entries as llama-imatrix records them (r/k/v/o, channel mix and the LoRA factors; layer
    // 0 has no value-residual LoRA), two tensors each.
    assert_eq!(names.len(), 2 * 26, "{names:?}");
    for n in ["blk.0.time_mix_receptance.weight.in_sum2", "blk.1.channel_mix_value.weight.counts"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("output.weight")));
    let m = convert::gguf::imatrix::Imatrix::load(&im).unwrap();
    assert_eq!(m.chunk_count as u64, chunks);
    assert_eq!(m.entries["blk.1.channel_mix_value.weight"].len(), 512);
    // The mean squares are positive (every column saw activations).
    assert!(m.entries.values().all(|v| v.iter().all(|&x| x > 0.0)));
}

/// Every file of a folder, name → bytes.
fn contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn a_release_killed_mid_way_resumes_to_the_bytes_of_an_uninterrupted_run_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    ok(&release(&whole, &["--threads", "1"]));

    let model = root().join("golden/v7-bf16.pth");
    let text = root().join("golden/tokenizer/corpus.txt");
    let mut child = bin()
        .args(["release", model.to_str().unwrap(), "--name", "v7 Bf16", "--out", killed.to_str().unwrap()])
        .args(["--eval", text.to_str().unwrap(), "--eval-tokens", "600", "--threads", "2", "--tokenizer", "world"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL as soon as the first file is recorded: the run is mid-way through the set.
    let t0 = std::time::Instant::now();
    while !killed.join("manifest.json").exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = contents(&killed);
    assert!(
        partial.keys().filter(|f| f.ends_with(".gguf")).count() < SET.len(),
        "the kill came too late: {:?}",
        partial.keys()
    );

    ok(&release(&killed, &[]));
    let (a, b) = (contents(&whole), contents(&killed));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same files, and no stray ones");
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs after the resumed run");
    }
    assert!(!b.keys().any(|f| f.starts_with('.')), "temporary files left: {:?}", b.keys());
}
