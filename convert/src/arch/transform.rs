//! The transforms between canonical (BlinkDL) tensors and the tensors a target writes, each
//! defined once with its inverse beside it. A layout transform is one map, "element i of the
//! written tensor comes from element j of source s" ([`Transform::origin`]); applying gathers
//! through it and inverting scatters through it, so the two cannot disagree. They move whole
//! elements, so they work on any element type and on raw bytes alike. `Rescale` also changes
//! values, by a power of two: exact both ways in f32 and bf16 (same exponent range).

use crate::error::{Error, Result};

/// How a written tensor is made from its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Values unchanged; only the recorded shape differs (squeeze, flatten).
    Copy,
    /// 2-D transpose: source `[a, b]`, written `[b, a]`.
    Transpose,
    /// Several sources of equal length, one after another in the listed order.
    Stack,
    /// Source `[p, d, c]`, written `[p, c, d]` (RWKV-6 `time_maa_w2`).
    Permute021,
    /// Values divided by 2^k (RWKV-6 `rescale_every`, which llama.cpp's converter bakes in).
    Rescale(u32),
}

impl Transform {
    /// Where element `i` of the written tensor (shape `written`, torch order) comes from: the
    /// source's index in the row and the element's index in that source. `source_len` is the
    /// element count of each source. `None` when the shape does not fit the transform.
    fn origin_map(self, written: &[usize], source_len: usize) -> Option<impl Fn(usize) -> (usize, usize)> {
        let n: usize = written.iter().product();
        // (rows, cols) of each written matrix for the permuting transforms.
        let (r, c) = match (self, written) {
            (Transform::Transpose, [r, c]) | (Transform::Permute021, [_, r, c]) => (*r, *c),
            (Transform::Transpose | Transform::Permute021, _) => return None,
            _ => (1, n),
        };
        let fits = match self {
            Transform::Stack => source_len > 0 && n % source_len == 0,
            _ => n == source_len,
        };
        fits.then_some(move |i: usize| match self {
            Transform::Copy | Transform::Rescale(_) => (0, i),
            Transform::Stack => (i / source_len, i % source_len),
            // Written [p, r, c] at (q, x, y) is source [p, c, r] at (q, y, x).
            Transform::Transpose | Transform::Permute021 => {
                let (q, x, y) = (i / (r * c), i / c % r, i % c);
                (0, (q * c + y) * r + x)
            }
        })
    }

    fn misfit(self, written: &[usize], source_len: usize) -> Error {
        Error::corrupt(format!("shape {written:?} does not fit {self:?} of sources with {source_len} elements"))
    }

    /// The written tensor's elements from its sources' (each `es` bytes wide).
    pub fn apply_bytes(self, sources: &[&[u8]], es: usize, written: &[usize]) -> Result<Vec<u8>> {
        let len = sources.first().map_or(0, |s| s.len() / es);
        let origin = self.origin_map(written, len).ok_or_else(|| self.misfit(written, len))?;
        let n: usize = written.iter().product();
        if sources.len() != n / len.max(1) || sources.iter().any(|s| s.len() != len * es) {
            return Err(self.misfit(written, len));
        }
        let mut out = vec![0u8; n * es];
        for (i, o) in out.chunks_exact_mut(es).enumerate() {
            let (s, j) = origin(i);
            o.copy_from_slice(&sources[s][j * es..(j + 1) * es]);
        }
        Ok(out)
    }

    /// The inverse of [`Transform::apply_bytes`]: the sources (`count` of them) from the written
    /// tensor's elements.
    pub fn invert_bytes(
        self,
        written_bytes: &[u8],
        es: usize,
        written: &[usize],
        count: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let n: usize = written.iter().product();
        let len = n.checked_div(count).unwrap_or(0);
        let origin = self.origin_map(written, len).ok_or_else(|| self.misfit(written, len))?;
        if written_bytes.len() != n * es || len * count != n {
            return Err(self.misfit(written, len));
        }
        let mut out = vec![vec![0u8; len * es]; count];
        for (i, v) in written_bytes.chunks_exact(es).enumerate() {
            let (s, j) = origin(i);
            out[s][j * es..(j + 1) * es].copy_from_slice(v);
        }
        Ok(out)
    }

    /// The written tensor's values from its sources' (layout and value change).
    pub fn apply(self, sources: &[&[f32]], written: &[usize]) -> Result<Vec<f32>> {
        let bytes: Vec<Vec<u8>> = sources.iter().map(|s| s.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
        let refs: Vec<&[u8]> = bytes.iter().map(|b| b.as_slice()).collect();
        let mut out = f32s(&self.apply_bytes(&refs, 4, written)?);
        if let Some(s) = self.divisor()? {
            out.iter_mut().for_each(|v| *v /= s);
        }
        Ok(out)
    }

    /// The inverse of [`Transform::apply`].
    pub fn invert(self, written_values: &[f32], written: &[usize], count: usize) -> Result<Vec<Vec<f32>>> {
        let bytes: Vec<u8> = written_values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out: Vec<Vec<f32>> = self.invert_bytes(&bytes, 4, written, count)?.iter().map(|b| f32s(b)).collect();
        if let Some(s) = self.divisor()? {
            out.iter_mut().flatten().for_each(|v| *v *= s);
        }
        Ok(out)
    }

    /// What `apply` divides values by and `invert` multiplies them by: 2^k for `Rescale(k)`,
    /// exactly (built from its exponent bits; a shift of an integer would wrap past k = 63).
    pub fn divisor(self) -> Result<Option<f32>> {
        match self {
            Transform::Rescale(0) => Ok(None),
            Transform::Rescale(k) if k < 128 => Ok(Some(f32::from_bits((127 + k) << 23))),
            Transform::Rescale(k) => Err(Error::unsupported(format!("a rescale by 2^{k} does not fit f32"))),
            _ => Ok(None),
        }
    }
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n).map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / 7919.0 - 3.0).collect()
    }

    /// Every transform, inverted, gives back its sources bit for bit, and the layouts are what
    /// they say (a transpose is a transpose).
    #[test]
    fn every_transform_round_trips_exactly() {
        let cases: Vec<(Transform, Vec<usize>, usize)> = vec![
            (Transform::Copy, vec![3, 5], 1),
            (Transform::Copy, vec![7], 1),
            (Transform::Transpose, vec![5, 3], 1),
            (Transform::Transpose, vec![1, 4], 1),
            (Transform::Stack, vec![5, 1, 1, 4], 5),
            (Transform::Permute021, vec![5, 4, 3], 1),
            (Transform::Rescale(0), vec![4, 6], 1),
            (Transform::Rescale(3), vec![4, 6], 1),
            (Transform::Rescale(64), vec![4, 6], 1),
            (Transform::Rescale(100), vec![2, 2], 1),
        ];
        for (t, written, count) in cases {
            let n: usize = written.iter().product();
            let srcs: Vec<Vec<f32>> = (0..count).map(|s| values(n / count, s as u32)).collect();
            let refs: Vec<&[f32]> = srcs.iter().map(|s| s.as_slice()).collect();
            let w = t.apply(&refs, &written).unwrap();
            let back = t.invert(&w, &written, count).unwrap();
            for (a, b) in back.iter().zip(&srcs) {
                assert_eq!(
                    a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{t:?}"
                );
            }
            // bf16 bytes through the byte-generic form.
            let b16: Vec<Vec<u8>> =
                srcs.iter().map(|s| s.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect()).collect();
            let r16: Vec<&[u8]> = b16.iter().map(|b| b.as_slice()).collect();
            let w16 = t.apply_bytes(&r16, 2, &written).unwrap();
            assert_eq!(t.invert_bytes(&w16, 2, &written, count).unwrap(), b16, "{t:?} bytes");
        }
        // The layouts themselves.
        let a = [1f32, 2., 3., 4., 5., 6.]; // [2, 3]
        assert_eq!(Transform::Transpose.apply(&[&a], &[3, 2]).unwrap(), vec![1., 4., 2., 5., 3., 6.]);
        // [1, 2, 3] → [1, 3, 2] is the same transpose per leading index.
        assert_eq!(Transform::Permute021.apply(&[&a], &[1, 3, 2]).unwrap(), vec![1., 4., 2., 5., 3., 6.]);
        assert_eq!(Transform::Stack.apply(&[&a[..2], &a[2..4], &a[4..]], &[3, 2]).unwrap(), a.to_vec());
        assert_eq!(Transform::Rescale(2).apply(&[&a], &[6]).unwrap()[3], 1.0);
        // 2^70 is a float, not a wrapped shift.
        assert_eq!(Transform::Rescale(70).divisor().unwrap(), Some(2f32.powi(70)));
        assert!(Transform::Rescale(128).divisor().is_err());
        assert!(Transform::Transpose.apply(&[&a], &[6]).is_err());
        assert!(Transform::Stack.invert(&a, &[6], 4).is_err());
    }
}
