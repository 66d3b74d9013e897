//! Evaluation as BlinkDL reports it. LAMBADA: context = the text up to its last space, target =
//! " " + the last word; input = [0] + encode(context); ppl = exp(−mean over documents of the summed
//! target log-probability); acc = share of documents whose every target token is the argmax.

use crate::sample::argmax;
use crate::tokenizer::WorldTokenizer;
use crate::Engine;
use ndarray::s;
use serde::Serialize;

pub struct LambadaDoc {
    pub context: Vec<u32>,
    pub target: Vec<u32>,
}

/// Split and tokenize the documents of a LAMBADA jsonl file (`{"text": ...}` per line).
pub fn lambada_docs(jsonl: &str, tokenizer: &WorldTokenizer) -> Result<Vec<LambadaDoc>, String> {
    let mut docs = Vec::new();
    for (n, line) in jsonl.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let text = v["text"].as_str().ok_or_else(|| format!("line {}: no \"text\" string", n + 1))?;
        let cut = text.rfind(' ').ok_or_else(|| format!("line {}: the text has no space to split at", n + 1))?;
        let mut context = vec![0];
        context.extend(tokenizer.encode(&text[..cut]));
        docs.push(LambadaDoc { context, target: tokenizer.encode(&text[cut..]) });
    }
    Ok(docs)
}

/// Log-probability of each target token, and whether each was the argmax.
pub fn score(engine: &Engine, doc: &LambadaDoc) -> (f64, bool) {
    let mut tokens = doc.context.clone();
    tokens.extend(&doc.target[..doc.target.len() - 1]);
    let mut state = engine.new_state();
    let hidden = engine.hidden(&tokens, &mut state);
    // Only the rows that predict target tokens go through the head.
    let first = doc.context.len() - 1;
    let logits = engine.head(hidden.slice(s![first.., ..]));
    let mut logprob = 0.0;
    let mut all_argmax = true;
    for (row, &want) in logits.outer_iter().zip(&doc.target) {
        let row = row.as_slice().expect("standard layout");
        logprob += log_softmax_at(row, want as usize);
        all_argmax &= argmax(row) == want as usize;
    }
    (logprob, all_argmax)
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

/// Evaluate every document; `progress` is called with the number done. Documents run in
/// parallel (each one's GEMMs too); the sums are taken in document order, so the result does not
/// depend on the thread count.
pub fn lambada(engine: &Engine, docs: &[LambadaDoc], progress: impl Fn(usize) + Sync) -> LambadaResult {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let done = AtomicUsize::new(0);
    let scores: Vec<(f64, bool)> = docs
        .par_iter()
        .map(|doc| {
            let r = score(engine, doc);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            r
        })
        .collect();
    let sum_logprob: f64 = scores.iter().map(|s| s.0).sum();
    let correct = scores.iter().filter(|s| s.1).count();
    let tokens = docs.iter().map(|d| d.context.len() + d.target.len() - 1).sum();
    let n = docs.len().max(1) as f64;
    LambadaResult { docs: docs.len(), tokens, ppl: (-sum_logprob / n).exp(), acc: correct as f64 / n }
}
