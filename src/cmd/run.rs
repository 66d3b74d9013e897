//! `rwkv-convert run MODEL --prompt TEXT`: generate text, streamed as it comes.

use super::{text_tokenizer, EngineArgs};
use anyhow::Result;
use reference::sample::{sample, Rng};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pub model: PathBuf,
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 200)]
    pub max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0.3)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save the state after generation here.
    #[arg(long)]
    pub save_state: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    let (model, engine) = args.engine.load(&args.model)?;
    let tokenizer = text_tokenizer(&model)?;
    let mut state = engine.new_state();
    let prompt = tokenizer.encode(&args.prompt).map_err(|e| anyhow::anyhow!("--prompt: {e}"))?;
    let mut rng = Rng::new(args.seed);
    let mut stdout = std::io::stdout().lock();
    let mut pending: Vec<u8> = Vec::new();
    let mut logits = if prompt.is_empty() {
        engine.logits_seq(&[0], &mut state)
    } else {
        let hidden = engine.hidden(&prompt, &mut state);
        engine.head(hidden.slice(ndarray::s![hidden.nrows() - 1.., ..]))
    };
    for _ in 0..args.max_tokens {
        let token = sample(logits.row(0).as_slice().expect("contiguous"), args.temperature, args.top_p, &mut rng);
        if token == 0 {
            break; // end of text
        }
        // Hold back a partial UTF-8 character until its last byte arrives.
        pending.extend_from_slice(tokenizer.token_bytes(token));
        let valid = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        if valid > 0 {
            if stdout.write_all(&pending[..valid]).and_then(|()| stdout.flush()).is_err() {
                return Ok(()); // the reader went away
            }
            pending.drain(..valid);
        }
        logits = engine.logits_seq(&[token], &mut state);
    }
    let _ = stdout.write_all(&pending);
    let _ = writeln!(stdout);
    if let Some(path) = &args.save_state {
        let tensors: Vec<_> = state
            .named("state")
            .into_iter()
            .map(|(n, t)| (n, t.shape().to_vec(), t.iter().copied().collect()))
            .collect();
        reference::state::save_f32(path, &tensors, Default::default())?;
    }
    Ok(())
}
