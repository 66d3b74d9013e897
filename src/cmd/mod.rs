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

use ::convert::vocab::Vocab;
use ::convert::Model;
use anyhow::{anyhow, bail, Context, Result};
use reference::tokenizer::TextTokenizer;
use reference::{Engine, Kernel, Options};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Print to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// `--tokenizer`, on every command that tokenizes text or writes tokenizer data.
#[derive(clap::Args, Clone, Default)]
pub struct TokenizerArg {
    /// The model's tokenizer: `world`, `neox` (GPT-NeoX-20B, the RWKV-4 Pile models') or a
    /// tokenizer.json. Default: the file's own (GGUF, HF folder), else by vocabulary size
    /// (65536: World; 50277: GPT-NeoX-20B).
    #[arg(long, value_name = "world|neox|PATH")]
    pub tokenizer: Option<String>,
}

impl TokenizerArg {
    /// Open a model with this tokenizer (checked to fit its vocabulary).
    pub fn open(&self, path: &Path) -> Result<Model> {
        let mut model = Model::open(path)?;
        if let Some(arg) = &self.tokenizer {
            let vocab = Vocab::from_arg(arg).map_err(|e| anyhow!("--tokenizer {e}"))?;
            model.set_vocab(vocab)?;
        }
        Ok(model)
    }
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
    #[command(flatten)]
    pub tokenizer: TokenizerArg,
}

impl EngineArgs {
    pub fn load(&self, path: &Path) -> Result<(Model, Engine)> {
        let model = self.tokenizer.open(path)?;
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

/// Load a saved state, checked against the model's own state shapes.
pub fn load_state(engine: &Engine, path: Option<&PathBuf>) -> Result<reference::State> {
    let fresh = engine.new_state();
    match path {
        None => Ok(fresh),
        Some(p) => reference::State::load(p, &fresh).with_context(|| "loading the initial state".to_string()),
    }
}

/// The tokenizer text is encoded with for `model` ([`Model::tokenizer`]: chosen, the file's own,
/// or by vocabulary size).
pub fn text_tokenizer(model: &Model) -> Result<TextTokenizer> {
    let vocab = model.tokenizer()?;
    TextTokenizer::new(&vocab, model.hparams.vocab_size).map_err(|e| anyhow!("{}: {e}", model.path.display()))
}

/// Read a UTF-8 text file and tokenize it for `model`, capped at `max_tokens`.
pub fn text_tokens(model: &Model, path: &Path, max_tokens: usize) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    encode_text(model, &text, &path.display().to_string(), max_tokens)
}

/// Tokenize `text` (called `what` in messages) for `model`, capped at `max_tokens`.
pub fn encode_text(model: &Model, text: &str, what: &str, max_tokens: usize) -> Result<Vec<u32>> {
    let mut ids = text_tokenizer(model)?.encode(text).map_err(|e| anyhow!("{what}: {e}"))?;
    ids.truncate(max_tokens);
    if ids.len() < 2 {
        bail!("{what}: fewer than two tokens of text");
    }
    Ok(ids)
}
