//! `rwkv-convert imatrix MODEL --text FILE --out imatrix.gguf`: llama.cpp-compatible importance
//! data from the reference engine (no GPU, no C++ build): per weight matrix, Σ over calibration
//! tokens of each input column's square, and the token count, in llama-imatrix's GGUF format.

use super::{text_tokens, EngineArgs};
use anyhow::Result;
use convert::gguf::imatrix::{entries, write_gguf};
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
    let entries = entries(model, |name| stats.get(name).map(|s| (&s.sum_sq[..], s.count)), process_output)?;
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
