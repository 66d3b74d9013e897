//! IQ4_NL: 32 values, 4-bit indices into a non-linear table (ggml `quantize_row_iq4_nl_impl`
//! with ntry 7; the fallback of IQ3 types when a row is not a multiple of 256).

use crate::prim::{from_f16, to_f16};

pub const KVALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

fn best_index(x: f32) -> usize {
    let v = |i: usize| KVALUES[i] as f32;
    if x <= v(0) {
        return 0;
    }
    if x >= v(15) {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < v(mav) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - v(mu - 1) < v(mu) - x {
        mu - 1
    } else {
        mu
    }
}

/// One block of 32; `weights` are importance weights (None: `x²`).
pub fn quantize_iq4_nl(x: &[f32], out: &mut [u8], weights: Option<&[f32]>) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    out[..18].fill(0);
    if amax < 1e-15 {
        // d = 0; the indices are still written, as best_index(0) (value 1, index 8).
        let l = best_index(0.0) as u8;
        out[2..18].fill(l | (l << 4));
        return;
    }
    let w: Vec<f32> = match weights {
        Some(q) => q.to_vec(),
        None => x.iter().map(|v| v * v).collect(),
    };
    let mut l = [0usize; 32];
    let sums = |id: f32, l: &mut [usize; 32]| {
        let (mut sumqx, mut sumq2) = (0f32, 0f32);
        for j in 0..32 {
            let al = id * x[j];
            l[j] = best_index(al);
            let q = KVALUES[l[j]] as f32;
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        (sumqx, sumq2)
    };
    let mut d = -max / -127.0;
    let id = 1.0 / d;
    let (sumqx, sumq2) = sums(id, &mut l);
    d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    let mut scratch = [0usize; 32];
    for itry in -7..=7 {
        let id = (itry - 127) as f32 / max;
        let (sumqx, sumq2) = sums(id, &mut scratch);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    out[..2].copy_from_slice(&to_f16(d));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for j in 0..32 {
        l[j] = best_index(id * x[j]);
    }
    for j in 0..16 {
        out[2 + j] = l[j] as u8 | ((l[j + 16] as u8) << 4);
    }
}

pub fn dequantize_iq4_nl(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[..2]);
    for j in 0..16 {
        y[j] = d * KVALUES[(b[2 + j] & 15) as usize] as f32;
        y[j + 16] = d * KVALUES[(b[2 + j] >> 4) as usize] as f32;
    }
}
