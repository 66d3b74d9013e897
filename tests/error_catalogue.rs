//! A catalogue of broken inputs, made on the fly from the golden files and fed to the built CLI
//! (`inspect`, and `convert --to gguf` into an empty folder). For every case: exit code 1 (an
//! error, not a panic's 101 or a signal), stderr names the file, the tensor where there is one,
//! and says what is wrong in a specific phrase; no panic message and no backtrace; nothing left
//! at the output path and no temporary file in the output folder.
//!
//! At the end, every input kept under fuzz/regressions/TARGET/ (minimized fuzzer findings) is
//! replayed through the fuzz target's own body (fuzz/src/harness.rs, compiled in here).

mod common;

#[path = "../fuzz/src/harness.rs"]
mod harness;

use convert::torch::TorchCheckpoint;
use convert::DType;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

type Tensors = Vec<(String, DType, Vec<usize>, Vec<u8>)>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden(name: &str) -> PathBuf {
    root().join("golden").join(name)
}

fn cli(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
        .args(common::with_test_tokenizer(args))
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("the CLI runs")
}

/// The tensors of a golden checkpoint, as (name, dtype, shape, bytes) for the torch writer.
fn golden_tensors(name: &str) -> Tensors {
    let ckpt = TorchCheckpoint::open(&golden(name)).unwrap();
    ckpt.tensors.iter().map(|t| (t.name.clone(), t.dtype, t.shape.clone(), t.bytes().to_vec())).collect()
}

/// One broken input: a temporary folder with the input, and an empty `out/` folder for outputs.
struct Case {
    name: &'static str,
    dir: tempfile::TempDir,
}

impl Case {
    fn new(name: &'static str) -> Case {
        let dir = tempfile::Builder::new().prefix("rwkv-catalogue-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Case { name, dir }
    }
    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
    fn write(&self, file: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn save(&self, file: &str, tensors: &Tensors) -> PathBuf {
        let p = self.path(file);
        convert::torch::writer::save(&p, tensors).unwrap();
        p
    }

    /// The command must fail cleanly, saying all of `expect` on stderr.
    fn fails(&self, args: &[&std::ffi::OsStr], expect: &[&str]) -> String {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let what = format!("case '{}': rwkv-convert {:?}\nstderr: {stderr}", self.name, args);
        assert_eq!(out.status.code(), Some(1), "{what}");
        // Phrases must come from the message, not from the temporary folder's name in a path.
        let message = stderr.replace(&self.dir.path().display().to_string(), "<dir>");
        for phrase in expect {
            assert!(message.contains(phrase), "{what}\nmissing: {phrase:?}");
        }
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "note: run with"] {
            assert!(!stderr.contains(bad), "{what}\nhas {bad:?}");
        }
        // The catalogue of messages, for `cargo test --test error_catalogue -- --nocapture`.
        eprintln!("[{}] {} → {}", self.name, args[0].to_string_lossy(), message.trim());
        stderr
    }

    /// `inspect INPUT` and `convert INPUT --to gguf out/x.gguf` both fail with `expect`; the
    /// output folder stays empty.
    fn inspect_and_convert_fail(&self, input: &Path, expect: &[&str]) {
        self.fails(&["inspect".as_ref(), input.as_os_str()], expect);
        let out = self.path("out").join("x.gguf");
        self.fails(&["convert".as_ref(), input.as_os_str(), "--to".as_ref(), "gguf".as_ref(), out.as_os_str()], expect);
        self.assert_out_empty();
    }

    fn assert_out_empty(&self) {
        let left: Vec<String> = std::fs::read_dir(self.path("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "case '{}': the output folder holds {left:?}", self.name);
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn find<'a>(tensors: &'a mut Tensors, name: &str) -> &'a mut (String, DType, Vec<usize>, Vec<u8>) {
    tensors.iter_mut().find(|t| t.0 == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn truncated_pth() {
    let case = Case::new("truncated");
    let bytes = std::fs::read(golden("v7-bf16.pth")).unwrap();
    let input = case.write("half-download.pth", &bytes[..bytes.len() / 2]);
    case.inspect_and_convert_fail(&input, &["half-download.pth", "not a readable zip archive", "(truncated?"]);
}

#[test]
fn truncated_legacy_pth() {
    let case = Case::new("truncated-legacy");
    let bytes = std::fs::read(golden("v4-bf16-legacy.pth")).unwrap();
    let input = case.write("cut-legacy.pth", &bytes[..bytes.len() - 1000]);
    case.inspect_and_convert_fail(&input, &["cut-legacy.pth", "past the end of the file (truncated?)"]);
}

#[test]
fn wrong_magic() {
    let case = Case::new("wrong-magic");
    let mut s = 0x2545F4914F6CDD1Du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect();
    let input = case.write("noise.pth", &noise);
    case.inspect_and_convert_fail(&input, &["noise.pth", "not a torch checkpoint"]);
}

#[test]
fn a_zip_that_is_not_a_torch_file() {
    let case = Case::new("plain-zip");
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("photos/readme.txt", opts).unwrap();
    w.write_all(b"holiday pictures").unwrap();
    let input = case.write("photos.pth", &w.finish().unwrap().into_inner());
    case.inspect_and_convert_fail(&input, &["photos.pth", "no data.pkl entry: not a torch checkpoint"]);
}

#[test]
fn keys_of_no_rwkv_version() {
    let case = Case::new("unknown-version");
    let f32s = |n: usize| vec![0u8; n * 4];
    let tensors: Tensors = vec![
        ("model.embed_tokens.weight".into(), DType::F32, vec![16, 8], f32s(128)),
        ("model.layers.0.self_attn.q_proj.weight".into(), DType::F32, vec![8, 8], f32s(64)),
        ("lm_head.weight".into(), DType::F32, vec![16, 8], f32s(128)),
    ];
    let input = case.save("llama.pth", &tensors);
    case.inspect_and_convert_fail(
        &input,
        &["llama.pth", "not an RWKV-4..7 checkpoint", "none of the tensors that mark a version", "lm_head.weight"],
    );
}

#[test]
fn a_missing_tensor() {
    let case = Case::new("missing-tensor");
    let mut tensors = golden_tensors("v7-bf16.pth");
    tensors.retain(|t| t.0 != "blocks.1.att.value.weight");
    let input = case.save("v7-missing.pth", &tensors);
    case.inspect_and_convert_fail(
        &input,
        &["v7-missing.pth", "blocks.1.att.value.weight", "RWKV-7 tensors are missing"],
    );
}

#[test]
fn a_missing_tensor_that_hyper_parameters_come_from() {
    let case = Case::new("missing-hparam-tensor");
    let mut tensors = golden_tensors("v7-bf16.pth");
    tensors.retain(|t| t.0 != "blocks.0.ffn.key.weight");
    let input = case.save("v7-no-ffn.pth", &tensors);
    case.inspect_and_convert_fail(
        &input,
        &["v7-no-ffn.pth", "blocks.0.ffn.key.weight", "is missing, so the FFN width cannot be inferred"],
    );
}

/// The project's decision: a tensor that no model of the detected version has is an error, not a
/// warning (validate() in convert/src/arch/mod.rs). Extra tensors mean a different architecture
/// or a training checkpoint, and converting would silently drop weights.
#[test]
fn an_extra_unknown_tensor_is_an_error() {
    let case = Case::new("extra-tensor");
    let mut tensors = golden_tensors("v7-bf16.pth");
    tensors.push(("blocks.0.att.lora_extra.weight".into(), DType::BF16, vec![8, 128], vec![0u8; 8 * 128 * 2]));
    let input = case.save("v7-extra.pth", &tensors);
    case.inspect_and_convert_fail(
        &input,
        &["v7-extra.pth", "blocks.0.att.lora_extra.weight", "tensors that no RWKV-7 model has"],
    );
}

#[test]
fn a_tensor_with_a_wrong_shape() {
    let case = Case::new("wrong-shape");
    let mut tensors = golden_tensors("v7-bf16.pth");
    let t = find(&mut tensors, "blocks.1.ffn.value.weight");
    assert_eq!(t.2, vec![128, 512]);
    t.2 = vec![128, 511];
    t.3.truncate(128 * 511 * 2);
    let input = case.save("v7-shape.pth", &tensors);
    case.inspect_and_convert_fail(
        &input,
        &[
            "v7-shape.pth",
            "tensor 'blocks.1.ffn.value.weight'",
            "has shape [128, 511] but a RWKV-7 model with these hyper-parameters needs [128, 512]",
        ],
    );
}

/// A 643-byte checkpoint whose tensor views one stored element 2^31 times (stride 0, as
/// `expand()` makes): copying it would take 4 GiB; refused, naming the tensor.
#[test]
fn a_view_that_repeats_its_storage() {
    let case = Case::new("stride-0-view");
    let bytes = std::fs::read(root().join("fuzz/regressions/torch_zip/stride0-view-4gib-copy.pth")).unwrap();
    let input = case.write("expanded.pth", &bytes);
    case.inspect_and_convert_fail(
        &input,
        &["expanded.pth", "tensor 'w'", "is a view of 2147483648 elements over storage '0' of only 1"],
    );
}

/// NaN and infinite weights: `inspect` reads no tensor data and still succeeds; `inspect --verify`
/// (which reads everything) and `convert` refuse the file, naming the tensor and the element.
fn non_finite(case: &Case, file: &str, tensor: &str, bits: u16, what: &str) {
    let mut tensors = golden_tensors("v7-bf16.pth");
    let t = find(&mut tensors, tensor);
    assert_eq!(t.1, DType::BF16);
    t.3[2 * 5..2 * 5 + 2].copy_from_slice(&bits.to_le_bytes());
    let input = case.save(file, &tensors);
    let ok = cli(&["inspect".as_ref(), input.as_os_str()]);
    assert!(ok.status.success(), "plain inspect reads no data: {}", String::from_utf8_lossy(&ok.stderr));
    let expect = [file, &format!("tensor '{tensor}'"), &format!("element 5 is {what}"), "non-finite"];
    case.fails(&["inspect".as_ref(), "--verify".as_ref(), input.as_os_str()], &expect);
    let out = case.path("out").join("x.gguf");
    case.fails(&["convert".as_ref(), input.as_os_str(), "--to".as_ref(), "gguf".as_ref(), out.as_os_str()], &expect);
    case.assert_out_empty();
    // The quantized path (a float GGUF first, then quantize) stops at the same place.
    let args = [
        "convert".as_ref(),
        input.as_os_str(),
        "--to".as_ref(),
        "gguf".as_ref(),
        out.as_os_str(),
        "--outtype".as_ref(),
    ];
    case.fails(&[&args[..], &["Q8_0".as_ref()]].concat(), &expect);
    case.assert_out_empty();
    // And the HF writer: no shard is left in the folder.
    let hf = case.path("out").join("hf");
    case.fails(&["convert".as_ref(), input.as_os_str(), "--to".as_ref(), "hf".as_ref(), hf.as_os_str()], &expect);
    let left: Vec<_> = std::fs::read_dir(&hf).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "case '{}': the HF folder holds {left:?}", case.name);
    let _ = std::fs::remove_dir(&hf);
}

#[test]
fn nan_weights() {
    non_finite(&Case::new("nan"), "v7-nan.pth", "blocks.1.att.key.weight", 0x7fc1, "NaN");
}

#[test]
fn infinite_weights() {
    non_finite(&Case::new("inf"), "v7-inf.pth", "head.weight", 0xff80, "-inf");
}

/// Finite source values that do not fit the output type (f32 → f16 above 65504) would become
/// infinities in the file: refused, naming the tensor and suggesting a wider type.
#[test]
fn values_that_overflow_f16() {
    let case = Case::new("f16-overflow");
    let mut tensors = golden_tensors("v7-fp32.pth");
    let t = find(&mut tensors, "blocks.0.att.receptance.weight");
    t.3[4 * 7..4 * 7 + 4].copy_from_slice(&1.0e6f32.to_le_bytes());
    let input = case.save("v7-big.pth", &tensors);
    let out = case.path("out").join("x.gguf");
    let args = ["convert".as_ref(), input.as_os_str(), "--to".as_ref(), "gguf".as_ref(), out.as_os_str()];
    case.fails(
        &[&args[..], &["--outtype".as_ref(), "f16".as_ref()]].concat(),
        &["v7-big.pth", "tensor 'blocks.0.att.receptance.weight'", "element 7", "does not fit f16"],
    );
    case.assert_out_empty();
    // bf16 has f32's range: the same file converts.
    let ok = cli(&[&args[..], &["--outtype".as_ref(), "bf16".as_ref()]].concat());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

/// Odd but valid shapes: LoRAs of rank 1, whose [C, 1] matrices squeeze to one dimension (the
/// writers used to index the squeezed shape and panicked). RWKV-6 and RWKV-7 convert to GGUF and
/// to HF, and both read back with the source's values.
#[test]
fn rank_one_loras_convert_and_read_back() {
    use convert::arch::{HParams, Version};
    let case = Case::new("rank-1");
    let base = HParams {
        n_layer: 2,
        n_embd: 8,
        vocab_size: 16,
        dim_att: 8,
        dim_ffn: 32,
        n_head: Some(2),
        head_size: Some(4),
        ..HParams::default()
    };
    let v6 = HParams { time_mix_extra_dim: Some(1), time_decay_extra_dim: Some(1), ..base.clone() };
    let v7 = HParams { decay_lora: Some(1), a_lora: Some(1), v_lora: Some(1), gate_lora: Some(1), ..base.clone() };
    for (tag, version, hp) in [("v6", Version::V6, v6), ("v7", Version::V7, v7)] {
        let input = case.save(&format!("{tag}-rank1.pth"), &convert::synth::tensors(version, &hp, DType::BF16, 1));
        let source = common::open_test_model(&input);
        for (to, out) in [("gguf", case.path(&format!("{tag}.gguf"))), ("hf", case.path(&format!("{tag}-hf")))] {
            let made = cli(&["convert".as_ref(), input.as_os_str(), "--to".as_ref(), to.as_ref(), out.as_os_str()]);
            if tag == "v6" && to == "hf" {
                // The RWKV org's Rwkv6ForCausalLM derives its LoRA ranks from the width: a clear
                // refusal, not a folder its code cannot load.
                assert!(!made.status.success());
                assert!(String::from_utf8_lossy(&made.stderr).contains("hard-codes LoRA ranks"));
                continue;
            }
            assert!(made.status.success(), "{tag} → {to}: {}", String::from_utf8_lossy(&made.stderr));
            let back = common::open_test_model(&out);
            for t in &source.tensors {
                let b = back.get(&t.name).unwrap_or_else(|| panic!("{tag} {to}: no {}", t.name));
                assert_eq!(b.squeezed_shape(), t.squeezed_shape(), "{tag} {to} {}", t.name);
                assert_eq!(b.to_f32().unwrap(), t.to_f32().unwrap(), "{tag} {to} {}: values", t.name);
            }
        }
    }
}

/// A GGUF written by the tool, then one tensor record's offset moved past the end of the file.
#[test]
fn gguf_tensor_offset_past_the_end() {
    let case = Case::new("gguf-offset");
    let good = case.path("good.gguf");
    let made = cli(&[
        "convert".as_ref(),
        golden("v7-bf16.pth").as_os_str(),
        "--to".as_ref(),
        "gguf".as_ref(),
        good.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut bytes = std::fs::read(&good).unwrap();
    let name = "blk.1.channel_mix_key.weight";
    let mut record = (name.len() as u64).to_le_bytes().to_vec();
    record.extend_from_slice(name.as_bytes());
    let at =
        bytes.windows(record.len()).rposition(|w| w == record.as_slice()).expect("the tensor record") + record.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let offset_at = at + 4 + 8 * n_dims + 4;
    let past = (bytes.len() as u64).next_multiple_of(32);
    bytes[offset_at..offset_at + 8].copy_from_slice(&past.to_le_bytes());
    let input = case.write("moved.gguf", &bytes);
    case.inspect_and_convert_fail(&input, &["moved.gguf", &format!("tensor '{name}'"), "runs past the end of the"]);
}

/// An HF folder written by the tool, then its safetensors header edited to lie.
fn hf_folder(case: &Case) -> PathBuf {
    let dir = case.path("model-hf");
    let made =
        cli(&["convert".as_ref(), golden("v7-bf16.pth").as_os_str(), "--to".as_ref(), "hf".as_ref(), dir.as_os_str()]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    dir
}

fn rewrite_header(file: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(header.as_object_mut().unwrap());
    let mut h = serde_json::to_vec(&header).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(file, out).unwrap();
}

#[test]
fn safetensors_header_with_offsets_past_the_end() {
    let case = Case::new("safetensors-offsets");
    let dir = hf_folder(&case);
    let file = dir.join("model.safetensors");
    let tensor = "model.layers.1.ffn.value.weight";
    rewrite_header(&file, |h| {
        let offs = h[tensor]["data_offsets"].as_array_mut().unwrap();
        let end = offs[1].as_u64().unwrap();
        offs[0] = (end + 1_000_000).into();
        offs[1] = (end + 1_000_000 + 128 * 512 * 2).into();
    });
    case.inspect_and_convert_fail(&dir, &["model.safetensors", &format!("tensor '{tensor}'"), "do not fit shape"]);
}

#[test]
fn safetensors_header_whose_shape_and_offsets_disagree() {
    let case = Case::new("safetensors-sizes");
    let dir = hf_folder(&case);
    let file = dir.join("model.safetensors");
    let tensor = "model.layers.0.attn.r_k";
    rewrite_header(&file, |h| {
        h[tensor]["shape"] = serde_json::json!([2, 65]);
    });
    case.inspect_and_convert_fail(
        &dir,
        &["model.safetensors", &format!("tensor '{tensor}'"), "do not fit shape [2, 65]"],
    );
}

#[test]
fn safetensors_header_with_a_negative_dimension() {
    let case = Case::new("safetensors-negative-dim");
    let dir = hf_folder(&case);
    let file = dir.join("model.safetensors");
    let tensor = "model.layers.0.attn.r_k";
    rewrite_header(&file, |h| {
        h[tensor]["shape"] = serde_json::json!([2, -64]);
    });
    case.inspect_and_convert_fail(
        &dir,
        &["model.safetensors", &format!("tensor '{tensor}'"), "shape [2,-64] has an entry that is not a size"],
    );
}

#[test]
fn safetensors_header_longer_than_the_file() {
    let case = Case::new("safetensors-header-length");
    let dir = hf_folder(&case);
    let file = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&file, bytes).unwrap();
    case.inspect_and_convert_fail(&dir, &["model.safetensors", "runs past the"]);
}

/// A write that fails part-way (the disk fills up): the CLI runs with a file-size limit (`ulimit
/// -f`, SIGXFSZ ignored, so writes past it fail with EFBIG as they would with ENOSPC; no root
/// needed, unlike scripts/disk_full_check.sh's small tmpfs). Limits across the whole output make
/// the failure land in the header, in the middle, and in the last flush before the rename.
#[test]
fn a_write_that_fails_part_way_leaves_nothing_behind() {
    let case = Case::new("write-fails");
    let full = case.path("full.gguf");
    let made = cli(&[
        "convert".as_ref(),
        golden("v7-bf16.pth").as_os_str(),
        "--to".as_ref(),
        "gguf".as_ref(),
        full.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let size_kb = std::fs::metadata(&full).unwrap().len() / 1024;
    let out = case.path("out").join("x.gguf");
    for limit_kb in [4, 64, size_kb / 2, size_kb - 64, size_kb - 1] {
        for outtype in ["bf16", "Q8_0"] {
            let script = format!(
                "trap '' XFSZ; ulimit -f {limit_kb}; exec \"$0\" convert \"$1\" --to gguf \"$2\" --outtype {outtype} --tokenizer world"
            );
            let run = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .arg(env!("CARGO_BIN_EXE_rwkv-convert"))
                .arg(golden("v7-bf16.pth"))
                .arg(&out)
                .env_remove("RUST_BACKTRACE")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&run.stderr);
            let what = format!("limit {limit_kb} KiB of {size_kb}, --outtype {outtype}: {stderr}");
            assert_eq!(run.status.code(), Some(1), "{what}");
            // The quantized path writes a float GGUF next to the output first and names that
            // temporary file (`.x.base-PID.gguf`) when it is the write that fails.
            let named = if outtype == "bf16" { stderr.contains("x.gguf") } else { stderr.contains("out/.x.") };
            assert!(named && stderr.contains("File too large"), "{what}");
            assert!(!stderr.contains("panicked"), "{what}");
            case.assert_out_empty();
        }
    }
}

/// Minimized fuzzer findings, each kept as fuzz/regressions/TARGET/NAME: replayed through the fuzz
/// target's own body. None may panic; each was an input the readers must refuse, so each must
/// come back as an error.
#[test]
fn fuzz_regressions_are_refused_without_panics() {
    let mut replayed = 0;
    for target in harness::TARGETS {
        let dir = root().join("fuzz/regressions").join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let f = harness::by_name(target).unwrap();
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let t0 = std::time::Instant::now();
            let result = std::panic::catch_unwind(|| f(&bytes));
            let shown = format!("fuzz/regressions/{target}/{}", file_name(&file));
            // Some were slow inputs (a block count of 16386 in a 16 KB GGUF took 0.5 s): a small
            // file must be refused in well under a second even in a debug build.
            assert!(t0.elapsed().as_secs_f64() < 2.0, "{shown} took {:?}", t0.elapsed());
            match result {
                Err(_) => panic!("{shown} panics"),
                Ok(Ok(())) => panic!("{shown} was accepted; it is a broken input"),
                Ok(Err(e)) => eprintln!("{shown}: {e}"),
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs found under fuzz/regressions");
}
