//! `rwkv-convert`: read, convert, quantize and verify RWKV-4..7 checkpoints.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rwkv-convert", version, about = "Convert, quantize and verify RWKV-4..7 checkpoints without Python")]
struct Cli {
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
    /// Write a synthetic RWKV-7 checkpoint with seeded random weights (for testing pipelines).
    Synth(cmd::synth::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Logits(args) => cmd::logits::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Synth(args) => cmd::synth::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
