//! `rwkv-convert imatrix MODEL --text FILE --out imatrix.gguf`: llama.cpp-compatible importance
//! data from the reference engine (no GPU, no C++ build): per weight matrix, Σ over calibration
//! tokens of each input column's square, and the token count, in llama-imatrix's GGUF format.

use super::{text_tokens, EngineArgs};
use anyhow::{bail, Result};
use convert::gguf::imatrix::{write_gguf, ImatrixEntry};
use convert::Model;
use indicatif::{ProgressBar, ProgressStyle};
use reference::Engine;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    pub model: PathBuf,
    /// Calibration text (UTF-8).
    #[arg(long)]
    pub text: PathBuf,
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Tokens per chunk: the state restarts at each chunk, as llama-imatrix's contexts do.
    #[arg(long, default_value_t = 512)]
    pub chunk: usize,
    /// At most this many chunks (default: the whole text).
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Also collect `output.weight` (llama-imatrix skips it unless --process-output).
    #[arg(long)]
    pub process_output: bool,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Compute the statistics of `engine` over `tokens` and save them at `out`.
pub fn compute(
    model: &Model,
    engine: &Engine,
    tokens: &[u32],
    chunk: usize,
    process_output: bool,
    dataset: &str,
    out: &Path,
    force: bool,
    progress: impl Fn(usize, usize),
) -> Result<usize> {
    // Whole chunks only, as llama-imatrix; a text shorter than one chunk is one chunk.
    let chunk = chunk.max(2);
    let chunks: Vec<&[u32]> = tokens.chunks(chunk).filter(|c| c.len() == chunk || tokens.len() < chunk).collect();
    let rec = reference::imatrix::Recorder::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut state = engine.new_state();
        let hidden = engine.hidden_observed(c, &mut state, &rec);
        if process_output {
            engine.head_observed(hidden.view(), &rec);
        }
        progress(i + 1, chunks.len());
    }
    let stats = rec.finish();
    // One entry per GGUF matrix that llama.cpp multiplies by activations, as llama-imatrix records
    // them: the big matrices and the LoRA factors. The statistics are per input column, so they
    // are the same whether the file stores a factor transposed or not, and a rescaled matrix
    // (RWKV-6 `time_mix_output`, `channel_mix_value`: W / 2^k in the file) sees the same inputs:
    // the rescale divides the weight, not the activations.
    use convert::arch::gguf::Transform;
    let names = convert::arch::gguf::rows(model.version, &model.hparams);
    let mut entries = Vec::new();
    let one_matrix = |r: &&convert::arch::gguf::GgufRow| {
        r.sources.len() == 1 && matches!(r.transform, Transform::Copy | Transform::Rescale(_) | Transform::Transpose)
    };
    // A source written twice (RWKV-7 layer 0's v1/v2 placeholders, copies of a1/a2 that no
    // product uses) gets its entry under its first name only.
    let mut seen = std::collections::HashSet::new();
    for row in names.iter().filter(one_matrix) {
        if !seen.insert(row.sources[0].as_str()) {
            continue;
        }
        let ne0 = row.shape.last().copied().unwrap_or(0);
        if let Some(s) = stats.get(&row.sources[0]).filter(|s| s.sum_sq.len() == ne0) {
            if row.gguf == "output.weight" && !process_output {
                continue;
            }
            entries.push(ImatrixEntry {
                name: row.gguf.clone(),
                sum_sq: s.sum_sq.iter().map(|&v| v as f32).collect(),
                count: s.count as f32,
            });
        }
    }
    // Every matrix llama.cpp quantizes must have its entry: a silent gap would quantize it unweighted.
    let ne = |r: &convert::arch::gguf::GgufRow| r.shape.iter().rev().map(|&d| d as u64).collect::<Vec<u64>>();
    for row in names.iter().filter(|r| quantize::ftype::allows_quantization(&r.gguf, &ne(r))) {
        let skip = row.gguf == "token_embd.weight" || (row.gguf == "output.weight" && !process_output);
        if !skip && !entries.iter().any(|e| e.name == row.gguf) {
            bail!(
                "{}: the engine recorded no activations for '{}' (from '{}')",
                model.path.display(),
                row.gguf,
                row.sources.join("+")
            );
        }
    }
    if entries.is_empty() {
        bail!("{}: no weight matrix saw any activation", model.path.display());
    }
    write_gguf(out, &entries, &[dataset.to_string()], chunks.len() as u32, chunk as u32, force)?;
    Ok(entries.len())
}

pub fn run(args: Args) -> Result<()> {
    super::check_output(&args.out, args.force)?;
    let (model, engine) = args.engine.load(&args.model)?;
    let mut tokens = text_tokens(&model, &args.text, usize::MAX)?;
    if let Some(n) = args.chunks {
        tokens.truncate(n * args.chunk);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} chunks [{elapsed_precise}, eta {eta}]")?);
    bar.set_message("imatrix");
    let n = compute(
        &model,
        &engine,
        &tokens,
        args.chunk,
        args.process_output,
        &args.text.display().to_string(),
        &args.out,
        args.force,
        |i, total| {
            bar.set_length(total as u64);
            bar.set_position(i as u64)
        },
    )?;
    bar.finish_and_clear();
    eprintln!("wrote {} ({n} matrices, {} tokens)", args.out.display(), tokens.len());
    Ok(())
}
