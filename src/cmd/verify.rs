//! `rwkv-convert verify SOURCE CANDIDATE [--text F | --lambada F --limit N] [--max-kl X]` and
//! `rwkv-convert verify --manifest DIR`.

use super::out;
use super::quality::{baseline, load, measure, EvalArgs};
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The model the candidate was made from (any supported format).
    #[arg(required_unless_present = "manifest")]
    pub source: Option<PathBuf>,
    /// The converted model (any supported format).
    #[arg(required_unless_present = "manifest")]
    pub candidate: Option<PathBuf>,
    /// Check every checksum of a release folder instead.
    #[arg(long, conflicts_with_all = ["source", "candidate"])]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Fail (exit 1) when the mean KL divergence is above this.
    #[arg(long)]
    pub max_kl: Option<f64>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(dir) = &args.manifest {
        let checks = super::manifest::check(dir)?;
        let bad = checks.iter().filter(|c| !c.ok).count();
        if args.json {
            out(&(serde_json::to_string_pretty(&serde_json::json!({"dir": dir, "files": checks, "ok": bad == 0}))?
                + "\n"));
        } else {
            for c in &checks {
                out(&format!("{}  {}\n", if c.ok { "OK  " } else { "FAIL" }, c.file));
                if let Some(p) = &c.problem {
                    out(&format!("      {p}\n"));
                }
            }
        }
        if bad > 0 {
            bail!("{}: {bad} of {} files do not match the manifest", dir.display(), checks.len());
        }
        eprintln!("{}: all {} files match the manifest", dir.display(), checks.len());
        return Ok(());
    }
    let (source, candidate) = (args.source.as_ref().expect("clap"), args.candidate.as_ref().expect("clap"));
    let state = args.eval.state.as_deref();
    let (model, engine) = load(source, &args.eval.model, state)?;
    let inputs = args.eval.inputs(&model)?;
    let base = baseline(&engine, &inputs);
    // A source with its own tuned states runs from them; the candidate (which cannot hold them)
    // is measured from the same ones.
    let state = state.or(model.hparams.has_time_state.then_some(source.as_path()));
    // Only the source's outputs are kept: its weights (the map) go before the candidate's come.
    drop(engine);
    drop(model);
    let (_, cand) = load(candidate, &Default::default(), state)?;
    let m = measure(&base, &inputs, &cand)?;
    let kl = m.quality.map(|q| q.kl_mean);
    if args.json {
        let v = serde_json::json!({
            "source": source, "candidate": candidate, "evaluation": inputs.describe,
            "quality": m.quality, "lambada": m.lambada, "lambada_source": base.lambada,
            "max_kl": args.max_kl, "pass": args.max_kl.is_none_or(|x| kl.is_none_or(|k| k <= x)),
        });
        out(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        out(&format!("evaluated on {}\n", inputs.describe));
        if let Some(q) = &m.quality {
            out(&format!(
                "KL divergence  mean {:.6}  p99 {:.6}  max {:.6}  ({} positions)\ntop-1 agreement {:.2}%\nperplexity     source {:.4}  candidate {:.4}  ({:+.2}%)\n",
                q.kl_mean, q.kl_p99, q.kl_max, q.positions, 100.0 * q.top1_agreement, q.ppl_reference, q.ppl,
                100.0 * (q.ppl / q.ppl_reference - 1.0)
            ));
        }
        if let (Some(s), Some(c)) = (&base.lambada, &m.lambada) {
            out(&format!(
                "LAMBADA        source ppl {:.4} acc {:.2}%  candidate ppl {:.4} acc {:.2}%  ({} docs)\n",
                s.ppl,
                100.0 * s.acc,
                c.ppl,
                100.0 * c.acc,
                c.docs
            ));
        }
    }
    if let (Some(x), Some(k)) = (args.max_kl, kl) {
        if k > x {
            bail!("{}: mean KL divergence {k:.6} is above --max-kl {x}", candidate.display());
        }
    }
    Ok(())
}
