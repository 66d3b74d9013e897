//! Element types of stored tensors.

use crate::error::{Error, Result};
use half::{bf16, f16};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    /// Blocks of a quantized GGUF tensor, kept as stored; its values are the dequantized ones
    /// times 2^`exp2` (RWKV-6's rescaled matrices keep their blocks and undo the rescale here).
    Quant {
        ty: quantize::GgmlType,
        exp2: i32,
    },
}

impl Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
            // Block types have no size per element: see [`DType::row_bytes`].
            DType::Quant { .. } => 0,
        }
    }

    /// Bytes of a row of `n` elements (`None` when `n` is not whole blocks).
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        match self {
            DType::Quant { ty, .. } => ty.row_bytes(n),
            d => n.checked_mul(d.size()),
        }
    }

    pub fn is_quant(self) -> bool {
        matches!(self, DType::Quant { .. })
    }

    /// What stored values are multiplied by to give the tensor's values: 2^`exp2` for blocks that
    /// carry a rescale, else 1 (exact: a power of two).
    pub fn value_scale(self) -> f32 {
        match self {
            DType::Quant { exp2, .. } => 2f32.powi(exp2),
            _ => 1.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I16 => "i16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
            DType::Quant { ty, .. } => ty.name(),
        }
    }

    /// The dtype of a torch storage class name such as `BFloat16Storage`.
    pub fn from_torch_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "DoubleStorage" => DType::F64,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    /// The ggml type with the same bytes, for the float types.
    pub fn ggml_equivalent(self) -> Option<quantize::GgmlType> {
        match self {
            DType::F32 => Some(quantize::GgmlType::F32),
            DType::F16 => Some(quantize::GgmlType::F16),
            DType::BF16 => Some(quantize::GgmlType::BF16),
            _ => None,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first NaN or infinite element of little-endian `bytes` in `dtype`: its index and value
/// (integer types have none). A bit test on the exponent, a block at a time so that the compiler
/// vectorizes the common case (nothing found).
pub fn first_non_finite(dtype: DType, bytes: &[u8]) -> Option<(usize, f32)> {
    // Blocks tested a word at a time (`block_bad`, whole 8-byte words only), then element by
    // element (`bad`) in the block that has one, and in a last partial word.
    fn scan<const N: usize>(
        bytes: &[u8],
        bad: impl Fn(&[u8]) -> bool,
        block_bad: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        const BLOCK: usize = 512;
        for (b, block) in bytes.chunks(BLOCK * N).enumerate() {
            if block.len() % 8 != 0 || block_bad(block) {
                if let Some(i) = block.chunks_exact(N).position(&bad) {
                    return Some(b * BLOCK + i);
                }
            }
        }
        None
    }
    // Whether any element of the 8 bytes `w` (lanes of `bits`) has all exponent bits set: each
    // lane of `x` is zero exactly then, and only a zero lane borrows from its top bit when one is
    // subtracted (a non-zero lane holds an exponent bit above bit 0).
    fn any_all_ones(w: u64, exponent: u64, ones: u64, tops: u64) -> bool {
        let x = (w & exponent) ^ exponent;
        x.wrapping_sub(ones) & !x & tops != 0
    }
    fn words(block: &[u8], bad: impl Fn(u64) -> bool) -> bool {
        block.chunks_exact(8).fold(false, |any, w| any | bad(u64::from_le_bytes(w.try_into().expect("8 bytes"))))
    }
    let i = match dtype {
        DType::F32 => scan::<4>(
            bytes,
            |e| e[3] & 0x7f == 0x7f && e[2] & 0x80 == 0x80,
            |b| words(b, |w| any_all_ones(w, 0x7f80_0000_7f80_0000, 0x0000_0001_0000_0001, 0x8000_0000_8000_0000)),
        ),
        DType::F16 => scan::<2>(
            bytes,
            |e| e[1] & 0x7c == 0x7c,
            |b| words(b, |w| any_all_ones(w, 0x7c00_7c00_7c00_7c00, 0x0001_0001_0001_0001, 0x8000_8000_8000_8000)),
        ),
        DType::BF16 => scan::<2>(
            bytes,
            |e| e[1] & 0x7f == 0x7f && e[0] & 0x80 == 0x80,
            |b| words(b, |w| any_all_ones(w, 0x7f80_7f80_7f80_7f80, 0x0001_0001_0001_0001, 0x8000_8000_8000_8000)),
        ),
        DType::F64 => scan::<8>(bytes, |e| e[7] & 0x7f == 0x7f && e[6] & 0xf0 == 0xf0, |_| true),
        DType::Quant { .. } => {
            let v = to_f32(dtype, bytes).ok()?;
            return v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i]));
        }
        _ => None,
    }?;
    let es = dtype.size();
    let value = to_f32(dtype, &bytes[i * es..(i + 1) * es]).ok()?.first().copied()?;
    Some((i, value))
}

/// Widen little-endian float bytes to f32. Works on unaligned bytes (legacy files are unaligned).
pub fn to_f32(dtype: DType, bytes: &[u8]) -> Result<Vec<f32>> {
    let out = match dtype {
        DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        DType::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        DType::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        DType::F64 => {
            bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("chunk of 8")) as f32).collect()
        }
        DType::Quant { ty, .. } => {
            let mut v = quantize::codec::dequantize(ty, bytes).map_err(|e| Error::corrupt(e.to_string()))?;
            let s = dtype.value_scale();
            if s != 1.0 {
                v.iter_mut().for_each(|x| *x *= s);
            }
            v
        }
        other => return Err(Error::unsupported(format!("cannot widen {other} to f32"))),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_found_in_every_float_type() {
        for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
            let enc = |v: f32| -> Vec<u8> {
                match dtype {
                    DType::F32 => v.to_le_bytes().to_vec(),
                    DType::F16 => f16::from_f32(v).to_le_bytes().to_vec(),
                    DType::BF16 => bf16::from_f32(v).to_le_bytes().to_vec(),
                    _ => (v as f64).to_le_bytes().to_vec(),
                }
            };
            // Finite values of every kind, including the type's largest (all exponent bits but
            // one set) and the subnormals: nothing.
            let max = match dtype {
                DType::F16 => 65504.0,
                DType::BF16 => bf16::MAX.to_f32(),
                _ => f32::MAX,
            };
            let finite: Vec<u8> = [0.0, -0.0, 1.0, -2.5, 6.0e-8, max, -max, 1e-40]
                .iter()
                .cycle()
                .take(3000)
                .flat_map(|&v| enc(v))
                .collect();
            assert_eq!(first_non_finite(dtype, &finite), None, "{dtype}");
            // At each lane of a word, deep in a block and in the last, partial one.
            for (bad, at) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
                .into_iter()
                .flat_map(|b| [0usize, 1, 2, 3, 2049, 2999].map(|at| (b, at)))
            {
                let mut bytes = finite.clone();
                let es = dtype.size();
                bytes[at * es..(at + 1) * es].copy_from_slice(&enc(bad));
                let (i, v) = first_non_finite(dtype, &bytes).unwrap_or_else(|| panic!("{dtype}: {bad} not found"));
                assert_eq!(i, at, "{dtype}");
                assert!(v.is_nan() == bad.is_nan() && (v.is_nan() || v == bad), "{dtype}: {v} for {bad}");
            }
        }
        assert_eq!(first_non_finite(DType::I32, &[0xff; 16]), None);
    }
}
