//! Sampling as the official package's `sample_logits` does it: nucleus (top-p) cut on the
//! softmax, then temperature as a power of the kept probabilities. Seeded and reproducible.

/// xoshiro256** seeded through splitmix64: small, fast, and the same stream on every platform.
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E3779B97F4A7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D049BB133111EB);
            x ^ (x >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }
    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Softmax in f64 for stability.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let mut p: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// Pick a token: keep the smallest set of most likely tokens whose mass reaches `top_p`, raise the
/// kept probabilities to `1/temperature`, renormalise, draw. `temperature == 0` is greedy.
pub fn sample(logits: &[f32], temperature: f32, top_p: f32, rng: &mut Rng) -> u32 {
    if temperature <= 0.0 || top_p <= 0.0 {
        return argmax(logits) as u32;
    }
    let mut probs = softmax(logits);
    let mut sorted = probs.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut cum = 0.0;
    let mut cutoff = sorted[sorted.len() - 1];
    for &p in &sorted {
        cum += p;
        if cum >= top_p as f64 {
            cutoff = p;
            break;
        }
    }
    for p in probs.iter_mut() {
        if *p < cutoff {
            *p = 0.0;
        } else if temperature != 1.0 {
            *p = p.powf(1.0 / temperature as f64);
        }
    }
    let sum: f64 = probs.iter().sum();
    let mut x = rng.next_f64() * sum;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            if x < p {
                return i as u32;
            }
            x -= p;
        }
    }
    argmax(logits) as u32
}

/// ChatRWKV's repetition penalty (API_DEMO_CHAT.py): every token generated so far lowers its
/// logit by `presence + frequency·count`, its count decaying by `decay` per token since.
#[derive(Debug, Clone)]
pub struct Penalties {
    pub presence: f32,
    pub frequency: f32,
    pub decay: f32,
    counts: std::collections::BTreeMap<u32, f32>,
}

impl Penalties {
    pub fn new(presence: f32, frequency: f32, decay: f32) -> Penalties {
        Penalties { presence, frequency, decay, counts: Default::default() }
    }
    pub fn apply(&self, logits: &mut [f32]) {
        for (&t, &n) in &self.counts {
            logits[t as usize] -= self.presence + n * self.frequency;
        }
    }
    /// `token` was generated.
    pub fn record(&mut self, token: u32) {
        self.counts.values_mut().for_each(|n| *n *= self.decay);
        *self.counts.entry(token).or_default() += 1.0;
    }
}

pub fn argmax(x: &[f32]) -> usize {
    x.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_p_keeps_only_the_nucleus_and_zero_temperature_is_greedy() {
        let logits = [3.0f32, 2.9, 0.0, -1.0, -5.0];
        let mut rng = Rng::new(1);
        let mut seen = [0usize; 5];
        for _ in 0..2000 {
            seen[sample(&logits, 1.0, 0.5, &mut rng) as usize] += 1;
        }
        // softmax ≈ [.50, .45, .03, .01, .0002]: the 0.5 nucleus is the first one or two tokens.
        assert!(seen[2] + seen[3] + seen[4] == 0, "{seen:?}");
        assert!(seen[0] > 0);
        assert_eq!(sample(&logits, 0.0, 0.9, &mut rng), 0);
    }

    #[test]
    fn penalties_lower_what_was_generated_and_fade() {
        let mut p = Penalties::new(0.5, 0.25, 0.5);
        p.record(2);
        p.record(2);
        p.record(1);
        // token 2: counts 1 → 0.5 → 1.5 → 0.75; token 1: 1.
        let mut logits = [0.0f32; 4];
        p.apply(&mut logits);
        assert_eq!(logits, [0.0, -0.75, -(0.5 + 0.75 * 0.25), 0.0]);
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens() {
        let logits: Vec<f32> = (0..100).map(|i| ((i * 37) % 11) as f32 / 3.0).collect();
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..50).map(|_| sample(&logits, 0.8, 0.9, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
