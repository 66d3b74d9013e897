//! `rwkv-convert logits MODEL --tokens 0,510,... [--mode sequence|token] --out FILE.safetensors`

use super::{check_output, EngineArgs};
use anyhow::{bail, Result};
use reference::state::save_f32;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pub model: PathBuf,
    /// Comma-separated token ids.
    #[arg(long, value_delimiter = ',', required = true)]
    pub tokens: Vec<u32>,
    /// `sequence`: all tokens in one call (GEMMs); `token`: one token at a time.
    #[arg(long, default_value = "sequence", value_parser = ["sequence", "token"])]
    pub mode: String,
    /// Output safetensors: f32 `logits` [T, vocab] and the final state `state.{i}`.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    check_output(&args.out, args.force)?;
    let (model, engine) = args.engine.load(&args.model)?;
    if let Some(&bad) = args.tokens.iter().find(|&&t| t as usize >= engine.vocab()) {
        bail!("token id {bad} is outside the model's vocabulary of {}", engine.vocab());
    }
    let mut state = engine.new_state();
    let logits = match args.mode.as_str() {
        "sequence" => engine.logits_seq(&args.tokens, &mut state),
        _ => engine.logits_tok(&args.tokens, &mut state),
    };
    let mut tensors =
        vec![("logits".to_string(), logits.shape().to_vec(), logits.iter().copied().collect::<Vec<f32>>())];
    for (name, t) in state.named("state") {
        tensors.push((name, t.shape().to_vec(), t.iter().copied().collect()));
    }
    let meta = HashMap::from([
        ("model".to_string(), model.path.display().to_string()),
        ("version".to_string(), model.version.as_str().to_string()),
        ("mode".to_string(), args.mode.clone()),
        ("tokens".to_string(), format!("{:?}", args.tokens)),
    ]);
    save_f32(&args.out, &tensors, meta)?;
    eprintln!(
        "wrote {} ({} positions × {} logits, {} state tensors)",
        args.out.display(),
        args.tokens.len(),
        engine.vocab(),
        state.tensors.len()
    );
    Ok(())
}
