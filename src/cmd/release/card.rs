//! The release's `README.md`: a Hugging Face model card with the measured cost of every file.
//! Deterministic (no dates), so an interrupted and resumed release writes the same bytes.

use super::variants::Variant;
use crate::cmd::manifest::Manifest;
use crate::cmd::quality::Measured;
use convert::Model;
use std::fmt::Write;

pub struct CardInput<'a> {
    pub name: &'a str,
    pub model: &'a Model,
    pub set: &'a [Variant],
    pub manifest: &'a Manifest,
    pub source: Option<&'a Measured>,
    pub license: &'a str,
    pub base_model: Option<&'a str>,
    pub imatrix: Option<&'a str>,
    pub hf: bool,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// KL divergences span orders of magnitude: four significant digits either way.
fn kl(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// Perplexities of untrained test models run to 1e20; keep the column narrow.
fn ppl(x: f64) -> String {
    if x < 1e5 {
        format!("{x:.3}")
    } else {
        format!("{x:.3e}")
    }
}

/// Who each file is for.
fn advice(suffix: &str) -> &'static str {
    match suffix {
        "bf16" => "the original weights; for further conversion, or GPUs with bf16",
        "f16" => "full quality on hardware without bf16 (most GPUs and Apple silicon)",
        "bf16-q8_0" | "f16-q8_0" => "near-lossless; 16-bit head and embedding, the rest 8-bit",
        "q8_0" => "near-lossless at about half the 16-bit size",
        "q6_k" => "very close to 16-bit; a good default when memory allows",
        "q5_k" | "q5_k_s" => "small loss, smaller than Q6_K",
        "q4_k" | "q4_k-rwkv" => "the usual choice for CPUs and small GPUs",
        "q4_k_s" => "as Q4_K (llama.cpp's S/M rules do not touch RWKV tensors)",
        "q5_0" | "q5_1" | "q4_1" => "legacy 32-value blocks; prefer the K types of the same size",
        "q4_0" => "fastest 4-bit on old CPUs; lower quality than Q4_K",
        "iq4_nl" => "4-bit non-linear; for backends that prefer it",
        "iq4_xs" => "IQ4_NL's quality in slightly fewer bits",
        "q3_k_l" | "q3_k" | "q3_k_s" => "3-bit K-quant; llama.cpp's L/M/S rules do not touch RWKV tensors",
        _ if suffix.starts_with("iq3") => "for tight memory, with a visible quality loss",
        "q2_k" | "q2_k_s" => "2-bit; a large quality loss, for the tightest memory (Q2_K_S needs an importance matrix)",
        _ if suffix.starts_with("iq2") => "2-bit with an importance matrix: a large quality loss, for small devices",
        _ if suffix.starts_with("iq1") => "1.5-bit: a severe quality loss; for experiments and the tightest memory",
        "tq2_0" | "tq1_0" => "ternary; only for models trained ternary, ruinous for others",
        "q2_0" | "q1_0" => "2-bit and sign-only blocks; only for models trained for them",
        "mxfp4_moe" => "llama.cpp's MXFP4 type is for MoE experts: on RWKV the same tensors as Q8_0",
        _ => "",
    }
}

pub fn render(c: &CardInput) -> String {
    let hp = &c.model.hparams;
    let arch = convert::arch::gguf::arch_name(c.model.version);
    let mut s = String::new();
    // Front matter, as the hub reads it.
    let _ = writeln!(s, "---\nlicense: {}", c.license);
    let _ = writeln!(s, "language:\n- en\n- zh\n- multilingual");
    if let Some(b) = c.base_model {
        let _ = writeln!(s, "base_model: {b}");
    }
    let _ = writeln!(
        s,
        "pipeline_tag: text-generation\nlibrary_name: gguf\ntags:\n- rwkv\n- {arch}\n- gguf\n- llama.cpp\n---\n"
    );
    let _ = writeln!(s, "# {} GGUF\n", c.name);
    let _ = writeln!(
        s,
        "{} language model (an RNN with transformer-level quality: constant memory and time per token), {} parameters: \
         {} layers, embedding {}, vocabulary {} ({} tokenizer). Converted from `{}` by rwkv-convert {} without Python \
         or torch; quantized bit-exactly as llama.cpp's `llama-quantize` does.\n",
        c.model.version,
        convert::gguf::export::size_label(c.model.n_params()),
        hp.n_layer,
        hp.n_embd,
        hp.vocab_size,
        c.model.tokenizer().map_or("unknown".into(), |v| v.name()),
        c.manifest.source.as_ref().map_or("?", |s| s.file.as_str()),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(src) = &c.manifest.source {
        for a in &src.adapters {
            let how = match (a.alpha, &a.init) {
                (Some(alpha), _) => format!("LoRA adapter `{}` (α {alpha}): W + B·A·α/r", a.file),
                (None, Some((init, _))) => format!("PiSSA adapter `{}` (init `{init}`): bf16(W − B₀·A₀) + B·A", a.file),
                (None, None) => format!("adapter `{}`", a.file),
            };
            let _ = writeln!(
                s,
                "Merged into the source before conversion: the {how}, in f32 as RWKV-PEFT's merge.py computes it \
                 (blake3 `{}`).\n",
                &a.blake3[..16]
            );
        }
    }
    if !convert::arch::gguf::llama_cpp_loads(c.model.version) {
        let _ = writeln!(
            s,
            "> **Note:** llama.cpp does not load {} files; these use rwkv-convert's `{arch}` layout.\n",
            c.model.version
        );
    }

    // The files and what each costs.
    let _ = writeln!(s, "## Files\n");
    match &c.manifest.evaluation {
        Some(e) => {
            let _ = write!(
                s,
                "Quality is measured by rwkv-convert's reference engine against the source checkpoint on {e}."
            );
            if c.source.and_then(|m| m.quality).is_some() {
                s.push_str(
                    " KL divergence of the next-token distributions (mean and 99th percentile; 0 is identical), \
                     how often both rank the same token first, and perplexity.",
                );
            }
            if c.source.and_then(|m| m.lambada.as_ref()).is_some() {
                s.push_str(" LAMBADA as BlinkDL evaluates it: perplexity of the last word and accuracy.");
            }
            s.push_str("\n\n");
        }
        None => {
            let _ = writeln!(s, "Quality was not measured (run `release` with `--eval TEXT` or `--lambada FILE`).\n");
        }
    }
    let lambada = c.source.and_then(|m| m.lambada.as_ref()).is_some();
    let _ = write!(s, "| file | type | size | bits/weight | KL mean | KL p99 | top-1 | perplexity |");
    let _ = writeln!(s, "{}", if lambada { " LAMBADA ppl / acc |" } else { "" });
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|{}", if lambada { "---:|" } else { "" });
    if let Some(src) = c.source {
        let ppl_src = src.quality.map_or("".into(), |q| ppl(q.ppl));
        let lam = src.lambada.as_ref().map_or("".into(), |l| format!(" {} / {:.1}% |", ppl(l.ppl), 100.0 * l.acc));
        let _ = writeln!(
            s,
            "| source (`{}`) | {} | | | 0 | 0 | 100% | {ppl_src} |{lam}",
            c.manifest.source.as_ref().map_or("?", |s| &s.file),
            c.model.main_dtype().map_or("?".into(), |d| format!("{d:?}").to_uppercase())
        );
    }
    for v in c.set {
        let file = v.file_name(c.name);
        let Some(e) = c.manifest.entry(&file) else { continue };
        let bpw = e.digests.bytes as f64 * 8.0 / c.model.n_params().max(1) as f64;
        let _ = write!(s, "| [{file}]({file}) | {} | {} | {bpw:.2} |", v.type_name(), mib(e.digests.bytes));
        match e.measured.as_ref().and_then(|m| m.quality) {
            Some(q) => {
                let _ = write!(
                    s,
                    " {} | {} | {:.2}% | {} ({:+.2}%) |",
                    kl(q.kl_mean),
                    kl(q.kl_p99),
                    100.0 * q.top1_agreement,
                    ppl(q.ppl),
                    100.0 * (q.ppl / q.ppl_reference - 1.0)
                );
            }
            None => s.push_str(" | | | |"),
        }
        if lambada {
            match e.measured.as_ref().and_then(|m| m.lambada.as_ref()) {
                Some(l) => {
                    let _ = write!(s, " {} / {:.1}% |", ppl(l.ppl), 100.0 * l.acc);
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }

    let _ = writeln!(s, "\n## Which file to choose\n");
    for v in c.set {
        let _ = writeln!(s, "- **{}** ({}): {}.", v.suffix, v.describe(), advice(v.suffix));
    }
    let _ = writeln!(
        s,
        "\nRWKV keeps a fixed-size state instead of a growing KV cache, so memory is about the file size plus a few MiB \
         at any context length. Pick the largest file that fits your RAM/VRAM with room to spare.\n"
    );

    let q4 =
        c.set.iter().find(|v| v.suffix == "q4_k").or(c.set.last()).map(|v| v.file_name(c.name)).unwrap_or_default();
    let _ = writeln!(s, "## Run with llama.cpp\n");
    let _ = writeln!(s, "```sh\nllama-cli -m {q4} -cnv\nllama-server -m {q4} --port 8080\n```\n");
    if c.model.tokenizer().is_ok_and(|v| v.is_world()) {
        let _ = writeln!(
            s,
            "The World chat template is embedded (`User: …\\n\\nAssistant:`); turns end at the `\\n\\n` token.\n"
        );
    }

    let _ = writeln!(s, "## How these files were made\n");
    let _ = writeln!(
        s,
        "`rwkv-convert release {} --name {}` read the source once, wrote the {} files and measured each against \
         the source.{} Tensor types per file are in `*.tensors.json`.",
        c.manifest.source.as_ref().map_or("?", |s| &s.file),
        c.name,
        if c.set.iter().any(|v| v.float().is_some()) { "16-bit" } else { "float" },
        match c.imatrix {
            Some(i) => format!(" The K and IQ types use the importance matrix {i}."),
            None => " No importance matrix was used.".into(),
        }
    );
    if c.hf {
        let _ = writeln!(s, "The `hf/` folder holds the same weights in the Hugging Face / fla layout.");
    }
    let _ = writeln!(
        s,
        "\nChecksums: `manifest.json` (blake3 and sha256 of every file), `SHA256SUMS` (`sha256sum -c SHA256SUMS`) \
         and `B3SUMS` (`b3sum -c B3SUMS`); or `rwkv-convert verify --manifest .`"
    );
    s
}
