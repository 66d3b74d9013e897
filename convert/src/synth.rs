//! Synthetic checkpoints: every tensor of a version's table, filled from a seeded generator with
//! values in the ranges trained models have. For tests and benchmarks that need shapes the golden
//! files do not cover (e.g. the World vocabulary of 65536 rows).

use crate::arch::{self, HParams, Version};
use crate::dtype::DType;
use crate::error::Result;
use half::{bf16, f16};
use std::path::Path;

/// splitmix64: deterministic on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

fn seed_for(name: &str, seed: u64) -> u64 {
    name.bytes().fold(seed ^ 0xcbf29ce484222325, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// The value range of a tensor, by what it is.
fn range(name: &str, shape: &[usize]) -> (f32, f32) {
    let last = name.rsplit('.').next().unwrap_or(name);
    let is = |s: &str| name.ends_with(s);
    if shape.iter().filter(|&&d| d > 1).count() >= 2 && !is("r_k") && !is("time_faaaa") && !is("time_decay") {
        let fan_in = shape[shape.len() - 1].max(1) as f32;
        let a = (3.0 / fan_in).sqrt();
        return if is("emb.weight") { (-1.0, 1.0) } else { (-a, a) };
    }
    match last {
        "weight" if name.contains("ln") => (0.8, 1.2),
        "bias" => (-0.1, 0.1),
        _ if last.starts_with("time_mix") || last.starts_with("time_maa") || last.starts_with("x_") => (0.0, 1.0),
        "time_decay" | "w0" => (-3.0, 0.5),
        "time_first" | "time_faaaa" | "a0" | "v0" => (-1.0, 1.0),
        "k_k" => (0.7, 1.3),
        "k_a" => (0.0, 1.0),
        "r_k" => (-0.5, 0.5),
        _ => (-0.2, 0.2),
    }
}

/// A table-complete synthetic model as (name, dtype, shape, bytes), in table order.
pub fn tensors(version: Version, hp: &HParams, dtype: DType, seed: u64) -> Vec<(String, DType, Vec<usize>, Vec<u8>)> {
    arch::table(version, hp)
        .into_iter()
        .filter(|s| s.presence == arch::Presence::Required)
        .map(|spec| {
            let (lo, hi) = range(&spec.name, &spec.shape);
            let mut rng = Rng(seed_for(&spec.name, seed));
            let n: usize = spec.shape.iter().product();
            let bytes: Vec<u8> = match dtype {
                DType::BF16 => (0..n).flat_map(|_| bf16::from_f32(rng.uniform(lo, hi)).to_le_bytes()).collect(),
                DType::F16 => (0..n).flat_map(|_| f16::from_f32(rng.uniform(lo, hi)).to_le_bytes()).collect(),
                _ => (0..n).flat_map(|_| rng.uniform(lo, hi).to_le_bytes()).collect(),
            };
            (spec.name, dtype, spec.shape, bytes)
        })
        .collect()
}

/// Hyper-parameters of a synthetic RWKV-7 (released layout).
pub fn v7_hparams(n_layer: usize, n_embd: usize, vocab_size: usize) -> HParams {
    let rank = |k: f32| (((k * (n_embd as f32).sqrt() / 32.0).round() as usize).max(1) * 32).max(32);
    HParams {
        n_layer,
        n_embd,
        vocab_size,
        dim_att: n_embd,
        dim_ffn: 4 * n_embd,
        head_size: Some(64),
        n_head: Some(n_embd / 64),
        decay_lora: Some(rank(2.5)),
        a_lora: Some(rank(2.5)),
        v_lora: Some(rank(1.7)),
        gate_lora: Some(rank(5.0)),
        ..HParams::default()
    }
}

/// Write a synthetic model as a torch checkpoint.
pub fn save(path: &Path, version: Version, hp: &HParams, dtype: DType, seed: u64) -> Result<()> {
    crate::torch::writer::save(path, &tensors(version, hp, dtype, seed))
}
