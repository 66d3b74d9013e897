//! K-quants on 256-value super-blocks: Q4_K, Q5_K, Q6_K (ggml `quantize_row_q*_K_ref`), with the
//! scale searches `make_qkx2/3_quants`, `make_qp_quants` and `make_qx_quants` exactly as ggml evaluates them.

use crate::prim::{from_f16, nearest_int, to_f16};

pub const QK_K: usize = 256;
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// Symmetric scale search (rmse_type 1); weights `qw` or, without them, `x²`. `l` gets
/// values + nmax.
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], l: &mut [i8], qw: Option<&[f32]>) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    // The weights once, up front, so the inner loops are branch-free.
    let mut wbuf = [0f32; 32];
    let w = &mut wbuf[..x.len()];
    for (i, wi) in w.iter_mut().enumerate() {
        *wi = qw.map_or(x[i] * x[i], |q| q[i]);
    }
    let w = &*w;
    // Candidate 0 is ggml's first scale; then is = -9..=9 without 0, in ggml's order.
    let mut iscales = [0f32; 19];
    iscales[0] = -(nmax as f32) / max;
    for (k, is) in (-9..=9).filter(|&is| is != 0).enumerate() {
        iscales[k + 1] = -(nmax as f32 + 0.1 * is as f32) / max;
    }
    let mut sums = [(0f32, 0f32); 19];
    crate::search::qx_sums(x, w, nmax, &iscales, &mut sums);
    let (sumlx, suml2) = sums[0];
    let mut chosen = 0;
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for (k, &(sumlx, suml2)) in sums.iter().enumerate().skip(1) {
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            chosen = k;
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    for (li, &v) in l.iter_mut().zip(x) {
        *li = (nearest_int(iscales[chosen] * v).clamp(-nmax, nmax - 1) + nmax) as i8;
    }
    scale
}

/// Affine (scale, min) search for one sub-block with weights `w`; returns (scale, −min) and
/// writes `l`. This is ggml's `make_qkx2_quants` and `make_qkx3_quants` alike: given weights, the
/// two differ only in `max == min` against `max <= min`, which cannot differ because min ≤ 0 ≤ max
/// or min = x_min ≤ max. `abs_error` scores by weighted absolute error (`use_mad`, Q2_K), else
/// squared.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx3_quants(
    nmax: i32,
    x: &[f32],
    w: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    abs_error: bool,
) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max <= min {
        l.fill(0);
        return (0.0, -min);
    }
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best = 0f32;
    for i in 0..n {
        l[i] = nearest_int(iscale * (x[i] - min)).clamp(0, nmax) as u8;
        let diff = scale * l[i] as f32 + min - x[i];
        best += w[i] * if abs_error { diff.abs() } else { diff * diff };
    }
    // ggml scores candidates in order, and an accepted one moves `min`, which every later
    // candidate's scale and codes depend on. So score the next four at once (one SIMD group),
    // walk them in order, and after an acceptance that moves `min` go on from the one after it.
    let nc = nstep as usize + 1;
    let mut iscales = [0f32; crate::search::MAX_CANDIDATES];
    let mut fits = [None; crate::search::MAX_CANDIDATES];
    let mut chosen: Option<(f32, f32)> = None; // (iscale, min) the kept codes came from
    let mut start = 0;
    while start < nc {
        let end = (start + 4).min(nc);
        for is in start..end {
            iscales[is] = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        }
        let block = crate::search::AffineBlock { x, w, min, sum_w, sum_x, nmax, abs_error };
        crate::search::qkx_fits(&block, &iscales[start..end], &mut fits[start..end]);
        let from = start;
        start = end;
        for k in from..end {
            let Some(f) = fits[k] else { continue };
            if f.mad < best {
                chosen = Some((iscales[k], min));
                (best, scale) = (f.mad, f.scale);
                let moved = f.min.to_bits() != min.to_bits();
                min = f.min;
                if moved {
                    start = k + 1;
                    break;
                }
            }
        }
    }
    if let Some((iscale, code_min)) = chosen {
        for i in 0..n {
            l[i] = nearest_int(iscale * (x[i] - code_min)).clamp(0, nmax) as u8;
        }
    }
    (scale, -min)
}

/// `make_qp_quants`: 6-bit codes for the sub-block scales (or mins) of a K-quant super-block,
/// weighted by each sub-block's total importance.
pub(crate) fn make_qp_quants(nmax: i32, x: &[f32], l: &mut [u8], qw: &[f32]) -> f32 {
    let max = x.iter().fold(0f32, |m, &v| if m > v { m } else { v });
    if max < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let n = x.len();
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        l[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0f32;
    for i in 0..n {
        let diff = x[i] - scale * l[i] as f32;
        best_mse += qw[i] * diff * diff;
    }
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0f32;
        for i in 0..n {
            let q = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * q as f32;
            mse += qw[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for i in 0..n {
        let q = nearest_int(iscale * x[i]).min(nmax);
        l[i] = q as u8;
        sumlx += qw[i] * x[i] * q as f32;
        suml2 += qw[i] * q as f32 * q as f32;
    }
    for _ in 0..5 {
        let mut changed = 0;
        for i in 0..n {
            let w = qw[i];
            let li = l[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l[i] as i32 {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed += 1;
                    }
                }
            }
        }
        if changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

fn pack_scales_mins(ls: &[u8; 8], lm: &[u8; 8], scales: &mut [u8]) {
    for j in 0..8 {
        if j < 4 {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            scales[j - 4] |= (ls[j] >> 4) << 6;
            scales[j] |= (lm[j] >> 4) << 6;
        }
    }
}

/// `get_scale_min_k4`
fn scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): sub-block affine quants with 6-bit scales/mins.
/// Returns (d, dmin, scales, L).
/// With importance weights ggml switches to `make_qkx3_quants` and `make_qp_quants` scales.
fn quantize_affine_w(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    qw: Option<&[f32]>,
) -> ([u8; 2], [u8; 2], [u8; 12], [u8; QK_K]) {
    if let Some(qw) = qw {
        return quantize_affine_imatrix(x, nmax, qw);
    }
    let mut l = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    let mut w = [0f32; 32];
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xs.iter().fold(0f32, |a, &v| a + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        for i in 0..32 {
            w[i] = av_x + xs[i].abs();
        }
        let (s, m) = make_qkx3_quants(nmax, xs, &w, &mut l[32 * j..32 * j + 32], rmin, 0.1, nstep, false);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    finish_affine(x, nmax, &ls, &lm, to_f16(max_scale / 63.0), to_f16(max_min / 63.0), l)
}

fn quantize_affine_imatrix(x: &[f32], nmax: i32, qw: &[f32]) -> ([u8; 2], [u8; 2], [u8; 12], [u8; QK_K]) {
    let mut l = [0u8; QK_K];
    let (mut scales, mut mins, mut sw) = ([0f32; 8], [0f32; 8], [0f32; 8]);
    let sum_x2: f32 = x.iter().fold(0f32, |a, &v| a + v * v);
    let sigma2 = 2.0 * sum_x2 / QK_K as f32;
    let mut w = [0f32; 32];
    for j in 0..8 {
        for i in 0..32 {
            w[i] = qw[32 * j + i] * (sigma2 + x[32 * j + i] * x[32 * j + i]).sqrt();
        }
        sw[j] = w.iter().fold(0f32, |a, &v| a + v);
        let (s, m) =
            make_qkx3_quants(nmax, &x[32 * j..32 * j + 32], &w, &mut l[32 * j..32 * j + 32], -0.9, 0.05, 36, false);
        scales[j] = s;
        mins[j] = m;
    }
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    for j in 0..8 {
        ls[j] = ls[j].min(63);
        lm[j] = lm[j].min(63);
    }
    finish_affine(x, nmax, &ls, &lm, to_f16(d_block), to_f16(m_block), l)
}

/// The common end of both affine paths: pack the 6-bit scales and mins, then recompute every
/// code from the fp16 super-block scales as stored (ggml requantizes against the rounded ones).
fn finish_affine(
    x: &[f32],
    nmax: i32,
    ls: &[u8; 8],
    lm: &[u8; 8],
    d16: [u8; 2],
    dmin16: [u8; 2],
    mut l: [u8; QK_K],
) -> ([u8; 2], [u8; 2], [u8; 12], [u8; QK_K]) {
    let mut packed = [0u8; 12];
    pack_scales_mins(ls, lm, &mut packed);
    let (d, dmin) = (from_f16(&d16), from_f16(&dmin16));
    for j in 0..8 {
        let (sc, m) = scale_min(j, &packed);
        let dj = d * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = dmin * m as f32;
        for i in 0..32 {
            l[32 * j + i] = nearest_int((x[32 * j + i] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    (d16, dmin16, packed, l)
}

pub fn quantize_q4_k(x: &[f32], out: &mut [u8]) {
    quantize_q4_k_weighted(x, out, None)
}

pub fn quantize_q4_k_weighted(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let (d, dmin, scales, l) = quantize_affine_w(x, 15, -1.0, 20, qw);
    out[0..2].copy_from_slice(&d);
    out[2..4].copy_from_slice(&dmin);
    out[4..16].copy_from_slice(&scales);
    for c in 0..4 {
        for i in 0..32 {
            out[16 + 32 * c + i] = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
        }
    }
}

pub fn dequantize_q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (from_f16(&b[0..2]), from_f16(&b[2..4]));
    let scales = &b[4..16];
    for c in 0..4 {
        let (sa, ma) = scale_min(2 * c, scales);
        let (sb, mb) = scale_min(2 * c + 1, scales);
        let (d1, m1, d2, m2) = (d * sa as f32, dmin * ma as f32, d * sb as f32, dmin * mb as f32);
        for i in 0..32 {
            let q = b[16 + 32 * c + i];
            y[64 * c + i] = d1 * (q & 15) as f32 - m1;
            y[64 * c + 32 + i] = d2 * (q >> 4) as f32 - m2;
        }
    }
}

pub fn quantize_q5_k(x: &[f32], out: &mut [u8]) {
    quantize_q5_k_weighted(x, out, None)
}

pub fn quantize_q5_k_weighted(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let (d, dmin, scales, l) = quantize_affine_w(x, 31, -0.5, 15, qw);
    out[0..2].copy_from_slice(&d);
    out[2..4].copy_from_slice(&dmin);
    out[4..16].copy_from_slice(&scales);
    let (qh, ql) = out[16..176].split_at_mut(32);
    qh.fill(0);
    let (mut m1, mut m2) = (1u8, 2u8);
    for (c, n) in (0..QK_K).step_by(64).enumerate() {
        for j in 0..32 {
            let (mut l1, mut l2) = (l[n + j], l[n + j + 32]);
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[32 * c + j] = l1 | (l2 << 4);
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

pub fn dequantize_q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (from_f16(&b[0..2]), from_f16(&b[2..4]));
    let scales = &b[4..16];
    let (qh, ql) = (&b[16..48], &b[48..176]);
    let (mut u1, mut u2) = (1u8, 2u8);
    for c in 0..4 {
        let (sa, ma) = scale_min(2 * c, scales);
        let (sb, mb) = scale_min(2 * c + 1, scales);
        let (d1, m1, d2, m2) = (d * sa as f32, dmin * ma as f32, d * sb as f32, dmin * mb as f32);
        for l in 0..32 {
            let q = ql[32 * c + l];
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[64 * c + l] = d1 * ((q & 15) + h1) as f32 - m1;
            y[64 * c + 32 + l] = d2 * ((q >> 4) + h2) as f32 - m2;
        }
        u1 <<= 2;
        u2 <<= 2;
    }
}

pub fn quantize_q6_k(x: &[f32], out: &mut [u8]) {
    quantize_q6_k_weighted(x, out, None)
}

/// Q6_K; with importance weights ggml uses them directly (no sigma term).
pub fn quantize_q6_k_weighted(x: &[f32], out: &mut [u8], qw: Option<&[f32]>) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for ib in 0..16 {
        let s = make_qx_quants(
            32,
            &x[16 * ib..16 * ib + 16],
            &mut l[16 * ib..16 * ib + 16],
            qw.map(|q| &q[16 * ib..16 * ib + 16]),
        );
        scales[ib] = s;
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = s;
        }
    }
    out[..210].fill(0);
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    let d16 = to_f16(1.0 / iscale);
    out[208..210].copy_from_slice(&d16);
    let mut sc = [0i8; 16];
    for ib in 0..16 {
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        out[192 + ib] = sc[ib] as u8;
    }
    let d = from_f16(&d16);
    for j in 0..16 {
        let dj = d * sc[j] as f32;
        if dj == 0.0 {
            continue;
        }
        for i in 0..16 {
            l[16 * j + i] = (nearest_int(x[16 * j + i] / dj).clamp(-32, 31) + 32) as i8;
        }
    }
    let (ql, qh) = out[..192].split_at_mut(128);
    for h in 0..2 {
        let b = 128 * h;
        for i in 0..32 {
            let q = |k: usize| l[b + i + k] as u8;
            ql[64 * h + i] = (q(0) & 15) | ((q(64) & 15) << 4);
            ql[64 * h + i + 32] = (q(32) & 15) | ((q(96) & 15) << 4);
            qh[32 * h + i] = (q(0) >> 4) | ((q(32) >> 4) << 2) | ((q(64) >> 4) << 4) | ((q(96) >> 4) << 6);
        }
    }
}

pub fn dequantize_q6_k(b: &[u8], y: &mut [f32]) {
    let d = from_f16(&b[208..210]);
    for h in 0..2 {
        let (ql, qh, sc) = (&b[64 * h..], &b[128 + 32 * h..], &b[192 + 8 * h..]);
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            let s = |k: usize| sc[is + k] as i8 as f32;
            y[128 * h + l] = d * s(0) * q1 as f32;
            y[128 * h + l + 32] = d * s(2) * q2 as f32;
            y[128 * h + l + 64] = d * s(4) * q3 as f32;
            y[128 * h + l + 96] = d * s(6) * q4 as f32;
        }
    }
}
