pub mod bench;
pub mod convert;
pub mod eval;
pub mod imatrix;
pub mod inspect;
pub mod logits;
pub mod manifest;
pub mod quality;
pub mod quantize;
pub mod release;
pub mod run;
pub mod synth;
pub mod verify;

use ::convert::Model;
use anyhow::{bail, Context, Result};
use reference::{Engine, Kernel, Options};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Print to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// How the reference engine runs a model.
#[derive(clap::Args, Clone)]
pub struct EngineArgs {
    /// Apply ln0 to the embedding in pure f32 (by default v4–v6 round it to the file's dtype,
    /// exactly as the official package does).
    #[arg(long)]
    pub pure_f32_ln0: bool,
    /// WKV kernel: `fast` (parallel over heads) or `plain` (the readable reference).
    #[arg(long, default_value = "fast", value_parser = ["fast", "plain"])]
    pub kernel: String,
}

impl EngineArgs {
    pub fn load(&self, path: &Path) -> Result<(Model, Engine)> {
        let model = Model::open(path)?;
        let mut engine = Engine::load(&model, &Options { pure_f32_ln0: self.pure_f32_ln0 })?;
        engine.set_kernel(if self.kernel == "plain" { Kernel::Plain } else { Kernel::Fast });
        Ok((model, engine))
    }
}

/// Refuse to replace an existing output unless asked to.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    Ok(())
}

/// The World tokenizer, when the model's vocabulary is World-sized.
pub fn world_tokenizer(model: &Model) -> Result<&'static reference::tokenizer::WorldTokenizer> {
    let t = reference::tokenizer::WorldTokenizer::world();
    let v = model.hparams.vocab_size;
    if v < t.len() {
        bail!(
            "{}: the model's vocabulary has {v} rows, but the World tokenizer needs {} (RWKV World models have 65536); \
             pass token ids instead where the command allows it",
            model.path.display(),
            t.len()
        );
    }
    Ok(t)
}

/// Load a saved state, checked against the model's own state shapes.
pub fn load_state(engine: &Engine, path: Option<&PathBuf>) -> Result<reference::State> {
    let fresh = engine.new_state();
    match path {
        None => Ok(fresh),
        Some(p) => reference::State::load(p, &fresh).with_context(|| "loading the initial state".to_string()),
    }
}

/// The tokenizer for text a model is measured or calibrated on: World's when the vocabulary is
/// World-sized; otherwise World's single-byte tokens (ids 1–256), which small test models with
/// at least 257 rows can run. The flag says which.
pub fn text_tokenizer(model: &Model) -> Result<(&'static reference::tokenizer::WorldTokenizer, bool)> {
    use reference::tokenizer::WorldTokenizer;
    let v = model.hparams.vocab_size;
    if v >= WorldTokenizer::world().len() {
        Ok((WorldTokenizer::world(), false))
    } else if v >= 257 {
        Ok((WorldTokenizer::world_bytes(), true))
    } else {
        bail!(
            "{}: a vocabulary of {v} rows is too small to run text (World's byte tokens need 257)",
            model.path.display()
        )
    }
}

/// Read a UTF-8 text file and tokenize it for `model`, capped at `max_tokens`.
pub fn text_tokens(model: &Model, path: &Path, max_tokens: usize) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    encode_text(model, &text, &path.display().to_string(), max_tokens)
}

/// Tokenize `text` (called `what` in messages) for `model`, capped at `max_tokens`.
pub fn encode_text(model: &Model, text: &str, what: &str, max_tokens: usize) -> Result<Vec<u32>> {
    let (tok, bytes) = text_tokenizer(model)?;
    if bytes {
        eprintln!(
            "note: {} has a {}-row vocabulary; {what} runs as single-byte tokens",
            model.path.display(),
            model.hparams.vocab_size
        );
    }
    let mut ids = tok.encode(text);
    ids.truncate(max_tokens);
    if ids.len() < 2 {
        bail!("{what}: fewer than two tokens of text");
    }
    Ok(ids)
}
