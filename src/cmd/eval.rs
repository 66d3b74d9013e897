//! `rwkv-convert eval MODEL --lambada FILE.jsonl [--limit N] [--json]`

use super::{out, text_tokenizer, EngineArgs};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use reference::eval::{lambada, lambada_docs};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    pub model: PathBuf,
    /// LAMBADA as BlinkDL evaluates it: one `{"text": ...}` per line.
    #[arg(long)]
    pub lambada: PathBuf,
    /// Only the first N documents.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    let (model, engine) = args.engine.load(&args.model)?;
    let tokenizer = text_tokenizer(&model)?;
    let text = std::fs::read_to_string(&args.lambada).with_context(|| format!("reading {}", args.lambada.display()))?;
    let mut docs = lambada_docs(&text, &tokenizer).map_err(|e| anyhow::anyhow!("{}: {e}", args.lambada.display()))?;
    if let Some(n) = args.limit {
        docs.truncate(n);
    }
    let bar = ProgressBar::new(docs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} docs [{elapsed_precise}, eta {eta}]")
            .expect("template"),
    );
    bar.set_message("LAMBADA");
    let start = Instant::now();
    let result = lambada(&engine, &docs, |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&result)?;
        v["model"] = serde_json::json!(model.path);
        v["seconds"] = serde_json::json!(secs);
        v["tokens_per_second"] = serde_json::json!(result.tokens as f64 / secs);
        out(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        out(&format!(
            "LAMBADA  docs {}  ppl {:.4}  acc {:.2}%  ({} tokens in {:.1} s, {:.0} tokens/s)\n",
            result.docs,
            result.ppl,
            100.0 * result.acc,
            result.tokens,
            secs,
            result.tokens as f64 / secs
        ));
    }
    Ok(())
}
