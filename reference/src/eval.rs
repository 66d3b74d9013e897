//! Evaluation as BlinkDL reports it. LAMBADA: context = the text up to its last space, target =
//! " " + the last word; input = [0] + encode(context); ppl = exp(−mean over documents of the summed
//! target log-probability); acc = share of documents whose every target token is the argmax.

use crate::sample::argmax;
use crate::tokenizer::TextTokenizer;
use crate::Engine;
use ndarray::s;
use serde::Serialize;

pub struct LambadaDoc {
    pub context: Vec<u32>,
    pub target: Vec<u32>,
}

/// Split and tokenize the documents of a LAMBADA jsonl file (`{"text": ...}` per line).
pub fn lambada_docs(jsonl: &str, tokenizer: &TextTokenizer) -> Result<Vec<LambadaDoc>, String> {
    let mut docs = Vec::new();
    for (n, line) in jsonl.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let text = v["text"].as_str().ok_or_else(|| format!("line {}: no \"text\" string", n + 1))?;
        let cut = text.rfind(' ').ok_or_else(|| format!("line {}: the text has no space to split at", n + 1))?;
        let encode = |t: &str| tokenizer.encode(t).map_err(|e| format!("line {}: {e}", n + 1));
        let mut context = vec![0];
        context.extend(encode(&text[..cut])?);
        docs.push(LambadaDoc { context, target: encode(&text[cut..])? });
    }
    Ok(docs)
}

/// For each document: the summed log-probability of its target tokens, and whether each was the
/// argmax. The documents run as one stacked batch ([`Engine::hidden_batch`]), each from a fresh
/// state; only the rows that predict target tokens go through the head.
pub fn score(engine: &Engine, docs: &[LambadaDoc]) -> Vec<(f64, bool)> {
    let inputs: Vec<Vec<u32>> =
        docs.iter().map(|d| d.context.iter().chain(&d.target[..d.target.len() - 1]).copied().collect()).collect();
    let seqs: Vec<&[u32]> = inputs.iter().map(|v| v.as_slice()).collect();
    let mut states: Vec<_> = docs.iter().map(|_| engine.new_state()).collect();
    let hidden = engine.hidden_batch(&seqs, &mut states);
    // Row `start + context − 1` onwards predicts the target tokens.
    let mut rows = Vec::new();
    let mut start = 0;
    for (d, seq) in docs.iter().zip(&seqs) {
        rows.extend(start + d.context.len() - 1..start + seq.len());
        start += seq.len();
    }
    let logits = engine.head(hidden.select(ndarray::Axis(0), &rows).view());
    let mut out = Vec::with_capacity(docs.len());
    let mut at = 0;
    for d in docs {
        let (mut logprob, mut all_argmax) = (0.0, true);
        for (row, &want) in logits.slice(s![at..at + d.target.len(), ..]).outer_iter().zip(&d.target) {
            let row = row.as_slice().expect("standard layout");
            logprob += log_softmax_at(row, want as usize);
            all_argmax &= argmax(row) == want as usize;
        }
        at += d.target.len();
        out.push((logprob, all_argmax));
    }
    out
}

/// `log softmax(x)[i]` in f64.
pub fn log_softmax_at(x: &[f32], i: usize) -> f64 {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let lse = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
    x[i] as f64 - lse
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LambadaResult {
    pub docs: usize,
    pub tokens: usize,
    pub ppl: f64,
    pub acc: f64,
}

/// Tokens per stacked batch of documents: enough for the GEMM's packed tiles to pay off (a
/// LAMBADA document alone is ~80 tokens, too few).
const BATCH_TOKENS: usize = 512;

/// Evaluate every document; `progress` is called with the number done. Documents run in stacked
/// batches of about `BATCH_TOKENS` (512) tokens, cut in document order, and batches run in parallel
/// (their GEMMs too); the sums are taken in document order, so the result does not depend on the
/// thread count.
pub fn lambada(engine: &Engine, docs: &[LambadaDoc], progress: impl Fn(usize) + Sync) -> LambadaResult {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut batches: Vec<&[LambadaDoc]> = Vec::new();
    let (mut start, mut tokens) = (0, 0);
    for (i, d) in docs.iter().enumerate() {
        tokens += d.context.len() + d.target.len() - 1;
        if tokens >= BATCH_TOKENS || i + 1 == docs.len() {
            batches.push(&docs[start..=i]);
            (start, tokens) = (i + 1, 0);
        }
    }
    let done = AtomicUsize::new(0);
    let scores: Vec<(f64, bool)> = batches
        .par_iter()
        .flat_map_iter(|batch| {
            let r = score(engine, batch);
            progress(done.fetch_add(batch.len(), Ordering::Relaxed) + batch.len());
            r
        })
        .collect();
    let sum_logprob: f64 = scores.iter().map(|s| s.0).sum();
    let correct = scores.iter().filter(|s| s.1).count();
    let tokens = docs.iter().map(|d| d.context.len() + d.target.len() - 1).sum();
    let n = docs.len().max(1) as f64;
    LambadaResult { docs: docs.len(), tokens, ppl: (-sum_logprob / n).exp(), acc: correct as f64 / n }
}
