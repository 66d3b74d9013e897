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

use ::convert::tuning::AdapterSpec;
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

/// How a model is opened, on every command that reads one: `--tokenizer` and the adapters
/// merged into it (`--lora`).
#[derive(clap::Args, Clone, Default)]
pub struct ModelArgs {
    /// The model's tokenizer: `world`, `neox` (GPT-NeoX-20B, the RWKV-4 Pile models') or a
    /// tokenizer.json. Default: the file's own (GGUF, HF folder), else by vocabulary size
    /// (65536: World; 50277: GPT-NeoX-20B).
    #[arg(long, value_name = "world|neox|PATH")]
    pub tokenizer: Option<String>,
    /// Merge a LoRA or PiSSA adapter (RWKV-PEFT / RWKV-LM-LoRA `.pth`) into the model first, as
    /// RWKV-PEFT's merge.py does (W + B·A·α/r in f32, then the model's type). Repeatable: merged
    /// in order. Tensors the adapter carries whole replace the model's.
    #[arg(long, value_name = "ADAPTER.pth")]
    pub lora: Vec<PathBuf>,
    /// LoRA's α (not recorded in adapter files): once for every --lora, or once per --lora in
    /// order. Default 16, merge.py's default; RWKV-PEFT's run_lora.sh trains with 32.
    #[arg(long, value_name = "A")]
    pub lora_alpha: Vec<f32>,
    /// A PiSSA adapter's init file (init_pissa.pth), once per --lora in order: makes the merges
    /// PiSSA (W − B₀·A₀ rounded to bf16, plus B·A; no α).
    #[arg(long, value_name = "INIT.pth")]
    pub lora_init: Vec<PathBuf>,
}

impl ModelArgs {
    /// Open a model with this tokenizer (checked to fit its vocabulary) and these adapters merged.
    pub fn open(&self, path: &Path) -> Result<Model> {
        let mut model = Model::open(path)?;
        if let Some(arg) = &self.tokenizer {
            let vocab = Vocab::from_arg(arg).map_err(|e| anyhow!("--tokenizer {e}"))?;
            model.set_vocab(vocab)?;
        }
        for spec in self.adapters()? {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} matrices [{elapsed_precise}]")
                    .expect("template"),
            );
            bar.set_message(format!("merging {}", spec.path.file_name().unwrap_or_default().to_string_lossy()));
            let summary = model.merge_adapter_with(&spec, &mut |i, n| {
                bar.set_length(n as u64);
                bar.set_position(i as u64);
            });
            bar.finish_and_clear();
            let summary = summary?;
            if spec.alpha.is_none() && spec.pissa_init.is_none() {
                eprintln!(
                    "note: no --lora-alpha given for {}: α = {} (merge.py's default); the α it was trained with is \
                     not in the file",
                    spec.path.display(),
                    ::convert::tuning::lora::DEFAULT_ALPHA
                );
            }
            eprintln!("merged {}", summary.describe());
            if summary.states > 0 {
                eprintln!(
                    "note: {} also carries state-tuned states (att.time_state), which are not weights: pass it with \
                     --state too to start from them",
                    spec.path.display()
                );
            }
        }
        Ok(model)
    }

    /// `--lora` with its α or PiSSA init, paired as the options describe.
    pub fn adapters(&self) -> Result<Vec<AdapterSpec>> {
        let n = self.lora.len();
        let alpha = |i: usize| match self.lora_alpha.len() {
            0 => Ok(None),
            1 => Ok(Some(self.lora_alpha[0])),
            k if k == n => Ok(Some(self.lora_alpha[i])),
            k => bail!("--lora-alpha is given {k} times for {n} --lora: give it once, or once per --lora"),
        };
        if !self.lora_init.is_empty() && !self.lora_alpha.is_empty() {
            bail!("--lora-alpha does not apply to PiSSA merges (--lora-init): they add B·A unscaled");
        }
        if !(self.lora_init.is_empty() || self.lora_init.len() == n) {
            bail!(
                "--lora-init is given {} times for {n} --lora: give it once per --lora, in order",
                self.lora_init.len()
            );
        }
        (0..n)
            .map(|i| {
                Ok(AdapterSpec {
                    path: self.lora[i].clone(),
                    alpha: alpha(i)?,
                    pissa_init: self.lora_init.get(i).cloned(),
                })
            })
            .collect()
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
    /// Start from this state: a state-tuning `.pth` (`blocks.N.att.time_state`, RWKV-5/6/7), or
    /// a state rwkv-convert saved (safetensors with `state.{i}`: `logits --out`, `run --save-state`).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

impl EngineArgs {
    pub fn load(&self, path: &Path) -> Result<(Model, Engine)> {
        let model = self.model.open(path)?;
        let mut engine = Engine::load(&model, &Options { pure_f32_ln0: self.pure_f32_ln0 })?;
        engine.set_kernel(if self.kernel == "plain" { Kernel::Plain } else { Kernel::Fast });
        start_state(&mut engine, &model, self.state.as_deref())?;
        Ok((model, engine))
    }
}

/// Say so when a model's own state-tuned states (`att.time_state`, in a file merge_state.py made)
/// are left out of what is written: neither GGUF nor HF layouts have a place for them.
pub fn note_states_not_written(model: &Model) {
    if model.hparams.has_time_state {
        eprintln!(
            "note: {} carries state-tuned states (blocks.N.att.time_state), which GGUF and HF files have no place \
             for: they are not written. Run the output with `--state {}` to start from them.",
            model.path.display(),
            model.path.display()
        );
    }
}

/// Refuse to replace an existing output unless asked to.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    Ok(())
}

/// Make `engine` start every sequence from the state in `path` (none: the model's own): a
/// state-tuning torch file, checked to fit `model`, or the engine's own safetensors state.
pub fn start_state(engine: &mut Engine, model: &Model, path: Option<&Path>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    // Enough for torch's sniff: a legacy stream in protocol 4 shows its magic only after 23 bytes.
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 64), &mut head))
        .with_context(|| format!("reading the state {}", path.display()))?;
    let state = if ::convert::torch::sniff(&head) == ::convert::torch::FileKind::Other {
        reference::State::load(path, &engine.new_state()).context("loading the initial state")?
    } else {
        let tuned = ::convert::tuning::TunedState::open(path)?;
        tuned.check(model)?;
        engine.tuned_state(&tuned)
    };
    engine.start_from(state);
    Ok(())
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
