//! What `verify` and `release` measure: a candidate model against its source on an evaluation
//! text (KL divergence, top-1 agreement, perplexity) and on LAMBADA (ppl, accuracy).

use anyhow::{Context, Result};
use convert::Model;
use reference::compare::{Quality, Reference};
use reference::eval::{lambada, lambada_docs, LambadaDoc, LambadaResult};
use reference::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What `verify` and `release` measure on when given no text: data/eval-text.txt, built in.
pub const BUILTIN_EVAL_TEXT: &str = include_str!("../../data/eval-text.txt");

/// Default cap on evaluation tokens: the source's log-probabilities are kept for every position.
pub const DEFAULT_EVAL_TOKENS: usize = 2048;

/// What a model is measured on (shared by `verify` and `release`).
#[derive(clap::Args, Clone)]
pub struct EvalArgs {
    /// Evaluation text (UTF-8): KL divergence, top-1 agreement, perplexity. Keep it disjoint from
    /// any calibration text. Without this and --lambada, the built-in text (data/eval-text.txt).
    #[arg(long, visible_alias = "eval")]
    pub text: Option<std::path::PathBuf>,
    /// LAMBADA jsonl: perplexity and accuracy.
    #[arg(long)]
    pub lambada: Option<std::path::PathBuf>,
    /// Only the first N LAMBADA documents.
    #[arg(long)]
    pub limit: Option<usize>,
    /// At most this many evaluation tokens (the source's log-probabilities are kept for each).
    #[arg(long, default_value_t = DEFAULT_EVAL_TOKENS)]
    pub eval_tokens: usize,
    /// Start every sequence of source and candidate alike from this state (a state-tuning `.pth`
    /// or an rwkv-convert state file): measures the fine-tune as it is used.
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub model: super::ModelArgs,
}

impl EvalArgs {
    pub fn inputs(&self, model: &Model) -> Result<EvalInputs> {
        eval_inputs(model, self.text.as_deref(), self.lambada.as_deref(), self.limit, self.eval_tokens)
    }
}

pub struct EvalInputs {
    pub tokens: Option<Vec<u32>>,
    pub lambada: Option<Vec<LambadaDoc>>,
    /// What was evaluated, for reports: file names, token and document counts.
    pub describe: String,
}

pub fn eval_inputs(
    model: &Model,
    text: Option<&Path>,
    lambada_file: Option<&Path>,
    limit: Option<usize>,
    max_tokens: usize,
) -> Result<EvalInputs> {
    let builtin = text.is_none() && lambada_file.is_none();
    let tokens = match text {
        Some(p) => Some(super::text_tokens(model, p, max_tokens)?),
        None if builtin => Some(
            super::encode_text(model, BUILTIN_EVAL_TEXT, "the built-in evaluation text", max_tokens)
                .context("no --text or --lambada given, and the built-in evaluation text needs a tokenizer")?,
        ),
        None => None,
    };
    let lambada = match lambada_file {
        None => None,
        Some(p) => {
            let tok = super::text_tokenizer(model)?;
            let jsonl = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let mut docs = lambada_docs(&jsonl, &tok).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            docs.truncate(limit.unwrap_or(usize::MAX));
            Some(docs)
        }
    };
    let mut parts = Vec::new();
    if let (Some(p), Some(t)) = (text, &tokens) {
        parts.push(format!("{} ({} tokens)", p.file_name().unwrap_or_default().to_string_lossy(), t.len()));
    }
    if let (true, Some(t)) = (builtin, &tokens) {
        parts.push(format!(
            "the built-in evaluation text (rwkv-convert's data/eval-text.txt, 7 languages, code and chat; {} tokens)",
            t.len()
        ));
    }
    if let (Some(p), Some(d)) = (lambada_file, &lambada) {
        parts.push(format!("{} ({} documents)", p.file_name().unwrap_or_default().to_string_lossy(), d.len()));
    }
    Ok(EvalInputs { tokens, lambada, describe: parts.join(", ") })
}

/// The source's side of every comparison, computed once.
pub struct Baseline {
    pub reference: Option<Reference>,
    pub lambada: Option<LambadaResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub quality: Option<Quality>,
    pub lambada: Option<LambadaResult>,
}

pub fn baseline(engine: &Engine, inputs: &EvalInputs) -> Baseline {
    Baseline {
        reference: inputs.tokens.as_ref().map(|t| Reference::new(engine, t.clone())),
        lambada: inputs.lambada.as_ref().map(|d| lambada(engine, d, |_| {})),
    }
}

pub fn measure(base: &Baseline, inputs: &EvalInputs, candidate: &Engine) -> Result<Measured> {
    let quality = base.reference.as_ref().map(|r| r.measure(candidate)).transpose().map_err(anyhow::Error::msg)?;
    let lambada = inputs.lambada.as_ref().map(|d| lambada(candidate, d, |_| {}));
    Ok(Measured { quality, lambada })
}

/// Load any model file for the engine, opened as `args` say (the source: `--tokenizer`, `--lora`;
/// a candidate: as it is), starting from `state`.
pub fn load(path: &Path, args: &super::ModelArgs, state: Option<&Path>) -> Result<(Model, Engine)> {
    let model = args.open(path)?;
    let mut engine = Engine::load(&model, &Default::default())?;
    super::start_state(&mut engine, &model, state)?;
    Ok((model, engine))
}
