//! `rwkv-convert bench MODEL [--prefill 512] [--decode 64] [--json]`: llama-bench's counterpart
//! for the reference engine. Prefill runs T tokens in sequence mode and takes the logits of the
//! last only; decode runs token by token with the logits of each. Weight bytes per token count
//! what one decoded token reads: every stored tensor but the embedding table, plus one of its rows.

use super::{out, EngineArgs};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    pub model: PathBuf,
    /// Prompt tokens for the prefill figure.
    #[arg(long, default_value_t = 512)]
    pub prefill: usize,
    /// Tokens generated one by one for the decode figure.
    #[arg(long, default_value_t = 64)]
    pub decode: usize,
    /// Best of this many runs of each figure.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Deterministic token ids spread over the vocabulary (never 0, the end-of-text id).
fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % (vocab.max(2) - 1) + 1) as u32).collect()
}

/// The process's peak resident set (VmHWM), in bytes; 0 where /proc is absent.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The storage type holding most of the model's bytes (a quantized GGUF's block type, not the f32
/// its small vectors are stored in).
fn stored_type(model: &convert::Model) -> Option<convert::DType> {
    let mut bytes: std::collections::HashMap<convert::DType, usize> = Default::default();
    for t in &model.tensors {
        *bytes.entry(t.dtype).or_default() += t.bytes().len();
    }
    bytes.into_iter().max_by_key(|&(d, b)| (b, d.name())).map(|(d, _)| d)
}

pub fn run(args: Args) -> Result<()> {
    let t = Instant::now();
    let (model, engine) = args.engine.load(&args.model)?;
    let load_s = t.elapsed().as_secs_f64();
    let vocab = engine.vocab();
    let best = |f: &mut dyn FnMut()| {
        (0..args.reps.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let prompt = tokens(args.prefill, vocab);
    let prefill_s = best(&mut || {
        let mut state = engine.new_state();
        let h = engine.hidden(&prompt, &mut state);
        let last = h.slice(ndarray::s![h.nrows() - 1.., ..]);
        std::hint::black_box(engine.head(last));
    });
    let gen = tokens(args.decode, vocab);
    let decode_s = best(&mut || {
        let mut state = engine.new_state();
        for &tok in &gen {
            std::hint::black_box(engine.head(engine.hidden(&[tok], &mut state).view()));
        }
    });
    // Lookup tables (the embedding, DeepEmbed's per-layer `s_emb`) are read one row per token.
    let per_token: u64 = model
        .tensors
        .iter()
        .map(|t| {
            let bytes = t.bytes().len() as u64;
            let lookup = t.name == "emb.weight" || t.name.ends_with(".s_emb.weight");
            if lookup {
                bytes / t.shape[0].max(1) as u64
            } else {
                bytes
            }
        })
        .sum();
    let prefill_tps = args.prefill as f64 / prefill_s;
    let decode_tps = args.decode as f64 / decode_s;
    // The dot kernels' set for the stored type (decode), and the prefill GEMM's.
    let stored = stored_type(&model);
    let dot = match stored {
        Some(convert::DType::Quant { ty, .. }) => reference::qkernels::isa(ty),
        d => d.and_then(reference::kernels::Float::from_dtype).map_or("portable", reference::kernels::isa),
    };
    let isa = format!("dot {dot}, gemm {}", reference::gemm::isa());
    let (gb_per_second, peak) = (per_token as f64 * decode_tps / 1e9, peak_rss());
    let v = serde_json::json!({
        "model": args.model.display().to_string(),
        "version": model.version.to_string(),
        "dtype": stored.map_or("?", |d| d.name()),
        "params": model.n_params(),
        "threads": rayon::current_num_threads(),
        "isa": isa,
        "load_seconds": load_s,
        "prefill_tokens": args.prefill,
        "prefill_tokens_per_second": prefill_tps,
        "decode_tokens": args.decode,
        "decode_tokens_per_second": decode_tps,
        "weight_bytes_per_token": per_token,
        "decode_gb_per_second": gb_per_second,
        "peak_rss_bytes": peak,
    });
    if args.json {
        out(&format!("{v}\n"));
    } else {
        out(&format!(
            "{}  {} {}, {} threads, {isa}\nprefill {:>9.1} tok/s ({} tokens, logits of the last)\ndecode  {:>9.1} tok/s ({} tokens), {:.1} MB/token, {:.2} GB/s\npeak RSS {:.1} MB\n",
            args.model.display(),
            model.version,
            v["dtype"].as_str().unwrap_or("?"),
            v["threads"],
            prefill_tps,
            args.prefill,
            decode_tps,
            args.decode,
            per_token as f64 / 1e6,
            gb_per_second,
            peak as f64 / 1e6
        ));
    }
    Ok(())
}
