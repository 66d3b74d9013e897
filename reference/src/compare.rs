//! How far a converted model's predictions are from its source's, on the same tokens: KL
//! divergence of the next-token distributions (mean and 99th percentile), top-1 agreement, and
//! each model's perplexity — the figures llama.cpp's `llama-perplexity --kl-divergence` reports.

use crate::{Engine, State};
use ndarray::ArrayView1;
use rayon::prelude::*;

/// Tokens per forward call: long enough for the GEMM path, short enough to bound the logits.
const CHUNK: usize = 256;

/// The reference model's next-token distributions over a text, kept as log-probabilities.
pub struct Reference {
    pub tokens: Vec<u32>,
    /// `log p(· | tokens[..=i])` for each scored position i (all but the last token), row-major.
    logp: Vec<f32>,
    vocab: usize,
    /// Σ −log p(next token), over scored positions.
    nll: f64,
}

/// A candidate measured against a [`Reference`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    pub positions: usize,
    pub kl_mean: f64,
    pub kl_p99: f64,
    pub kl_max: f64,
    /// Share of positions where both models rank the same token first.
    pub top1_agreement: f64,
    pub ppl: f64,
    pub ppl_reference: f64,
}

fn log_softmax(x: ArrayView1<f32>, out: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = x.iter().map(|&v| ((v - max) as f64).exp()).sum();
    let lse = max as f64 + sum.ln();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v as f64 - lse) as f32;
    }
}

fn argmax(x: &[f32]) -> usize {
    x.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0
}

/// Run `tokens` through `engine` chunk by chunk; `f(first position, logits)` per chunk.
fn each_chunk(engine: &Engine, tokens: &[u32], mut f: impl FnMut(usize, ndarray::ArrayView2<f32>)) {
    let mut state: State = engine.new_state();
    let scored = tokens.len().saturating_sub(1);
    for start in (0..scored).step_by(CHUNK) {
        let end = (start + CHUNK).min(scored);
        let logits = engine.logits_seq(&tokens[start..end], &mut state);
        f(start, logits.view());
    }
}

impl Reference {
    /// Score `tokens` (at least two) with the source model.
    pub fn new(engine: &Engine, tokens: Vec<u32>) -> Reference {
        let vocab = engine.vocab();
        let scored = tokens.len().saturating_sub(1);
        let mut logp = vec![0f32; scored * vocab];
        let mut nlls = vec![0f64; scored];
        each_chunk(engine, &tokens, |start, logits| {
            let rows = logits.nrows();
            let out = &mut logp[start * vocab..(start + rows) * vocab];
            out.par_chunks_mut(vocab).zip(nlls[start..start + rows].par_iter_mut()).enumerate().for_each(
                |(i, (lp, nll))| {
                    log_softmax(logits.row(i), lp);
                    *nll = -(lp[tokens[start + i + 1] as usize] as f64);
                },
            );
        });
        // Summed in position order, so the figure does not depend on the thread count.
        let nll = nlls.iter().sum();
        Reference { tokens, logp, vocab, nll }
    }

    pub fn positions(&self) -> usize {
        self.tokens.len().saturating_sub(1)
    }

    pub fn ppl(&self) -> f64 {
        (self.nll / self.positions().max(1) as f64).exp()
    }

    /// Measure `candidate` (same vocabulary) on the reference's tokens.
    pub fn measure(&self, candidate: &Engine) -> Result<Quality, String> {
        if candidate.vocab() != self.vocab {
            return Err(format!("vocabularies differ: {} against the reference's {}", candidate.vocab(), self.vocab));
        }
        let (n, v) = (self.positions(), self.vocab);
        // Per position: KL(P‖Q) = Σ p (log p − log q) with P the reference, top-1 agreement, −log q(next).
        let mut per = vec![(0f64, false, 0f64); n];
        each_chunk(candidate, &self.tokens, |start, logits| {
            per[start..start + logits.nrows()].par_iter_mut().enumerate().for_each_init(
                || vec![0f32; v],
                |lq, (i, out)| {
                    let pos = start + i;
                    log_softmax(logits.row(i), lq);
                    let lp = &self.logp[pos * v..(pos + 1) * v];
                    let kl =
                        lp.iter().zip(lq.iter()).map(|(&a, &b)| (a as f64).exp() * (a as f64 - b as f64)).sum::<f64>();
                    *out = (kl.max(0.0), argmax(lp) == argmax(lq), -(lq[self.tokens[pos + 1] as usize] as f64));
                },
            );
        });
        let kls: Vec<f64> = per.iter().map(|p| p.0).collect();
        let agree = per.iter().filter(|p| p.1).count();
        let nll: f64 = per.iter().map(|p| p.2).sum();
        let mean = kls.iter().sum::<f64>() / n.max(1) as f64;
        let mut sorted = kls;
        sorted.sort_by(f64::total_cmp);
        let pct = |q: f64| sorted.get(((n as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        Ok(Quality {
            positions: n,
            kl_mean: mean,
            kl_p99: pct(0.99),
            kl_max: sorted.last().copied().unwrap_or(0.0),
            top1_agreement: agree as f64 / n.max(1) as f64,
            ppl: (nll / n.max(1) as f64).exp(),
            ppl_reference: self.ppl(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn log_softmax_normalises_and_argmax_takes_the_first_maximum() {
        let mut out = [0f32; 3];
        log_softmax(array![1.0f32, 2.0, 3.0].view(), &mut out);
        let total: f64 = out.iter().map(|&v| (v as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!((out[2] - out[1] - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
    }
}
