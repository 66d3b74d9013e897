//! `rwkv-convert`: read, convert, quantize and verify RWKV-4..7 checkpoints.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rwkv-convert", version, about = "Convert, quantize and verify RWKV-4..7 checkpoints without Python")]
struct Cli {
    /// Worker threads for quantizing and running models (default: one per core). Output bytes
    /// never depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a checkpoint's version, hyper-parameters and tensors (reads no tensor data).
    Inspect(cmd::inspect::Args),
    /// Convert a checkpoint to another format (GGUF now).
    Convert(cmd::convert::Args),
    /// Quantize a GGUF file to one of llama.cpp's file types, with its per-tensor rules.
    Quantize(cmd::quantize::Args),
    /// Generate text with the reference engine (World-vocabulary models).
    Run(cmd::run::Args),
    /// Write the logits at every position and the final state for given token ids.
    Logits(cmd::logits::Args),
    /// Evaluate perplexity and accuracy on LAMBADA, as BlinkDL reports them.
    Eval(cmd::eval::Args),
    /// Make a whole GGUF release set, measured against the source, with a model card and checksums.
    Release(cmd::release::Args),
    /// Compare a converted model with its source (KL, top-1, perplexity), or check a release's checksums.
    Verify(cmd::verify::Args),
    /// Compute a llama.cpp-compatible importance matrix with the reference engine.
    Imatrix(cmd::imatrix::Args),
    /// Measure the reference engine: prefill and decode tokens/s, weight bandwidth, peak memory.
    Bench(cmd::bench::Args),
    /// Write a synthetic RWKV-7 checkpoint with seeded random weights (for testing pipelines).
    Synth(cmd::synth::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C: remove the files being written (their final names never exist half-written), then
    // exit as an interrupted process does.
    let _ = ctrlc::set_handler(|| {
        let n = convert::output::remove_temporaries();
        eprintln!("\ninterrupted{}", if n > 0 { format!("; removed {n} unfinished files") } else { String::new() });
        std::process::exit(130);
    });
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global() {
            eprintln!("error: --threads {n}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Logits(args) => cmd::logits::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Synth(args) => cmd::synth::run(args),
        Command::Release(args) => cmd::release::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Imatrix(args) => cmd::imatrix::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
