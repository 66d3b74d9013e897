//! ggml tensor types (ggml-org/llama.cpp `ggml/include/ggml.h`, sizes from `ggml-common.h`) and
//! llama.cpp file types (`include/llama.h`).

use std::fmt;

/// A ggml element type: its id in GGUF, how many values one block holds and how many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    IQ2XXS,
    IQ2XS,
    IQ3XXS,
    IQ1S,
    IQ4NL,
    IQ3S,
    IQ2S,
    IQ4XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    Q1_0,
    Q2_0,
}

use GgmlType::*;

/// (type, id, name, block size, bytes per block)
const TABLE: &[(GgmlType, u32, &str, usize, usize)] = &[
    (F32, 0, "f32", 1, 4),
    (F16, 1, "f16", 1, 2),
    (Q4_0, 2, "q4_0", 32, 18),
    (Q4_1, 3, "q4_1", 32, 20),
    (Q5_0, 6, "q5_0", 32, 22),
    (Q5_1, 7, "q5_1", 32, 24),
    (Q8_0, 8, "q8_0", 32, 34),
    (Q8_1, 9, "q8_1", 32, 36),
    (Q2K, 10, "q2_K", 256, 84),
    (Q3K, 11, "q3_K", 256, 110),
    (Q4K, 12, "q4_K", 256, 144),
    (Q5K, 13, "q5_K", 256, 176),
    (Q6K, 14, "q6_K", 256, 210),
    (Q8K, 15, "q8_K", 256, 292),
    (IQ2XXS, 16, "iq2_xxs", 256, 66),
    (IQ2XS, 17, "iq2_xs", 256, 74),
    (IQ3XXS, 18, "iq3_xxs", 256, 98),
    (IQ1S, 19, "iq1_s", 256, 50),
    (IQ4NL, 20, "iq4_nl", 32, 18),
    (IQ3S, 21, "iq3_s", 256, 110),
    (IQ2S, 22, "iq2_s", 256, 82),
    (IQ4XS, 23, "iq4_xs", 256, 136),
    (I8, 24, "i8", 1, 1),
    (I16, 25, "i16", 1, 2),
    (I32, 26, "i32", 1, 4),
    (I64, 27, "i64", 1, 8),
    (F64, 28, "f64", 1, 8),
    (IQ1M, 29, "iq1_m", 256, 56),
    (BF16, 30, "bf16", 1, 2),
    (TQ1_0, 34, "tq1_0", 256, 54),
    (TQ2_0, 35, "tq2_0", 256, 66),
    (MXFP4, 39, "mxfp4", 32, 17),
    (Q1_0, 41, "q1_0", 128, 18),
    (Q2_0, 42, "q2_0", 64, 18),
];

impl GgmlType {
    fn row(self) -> &'static (GgmlType, u32, &'static str, usize, usize) {
        TABLE.iter().find(|r| r.0 == self).expect("every type is in the table")
    }
    pub fn id(self) -> u32 {
        self.row().1
    }
    pub fn name(self) -> &'static str {
        self.row().2
    }
    pub fn block_size(self) -> usize {
        self.row().3
    }
    pub fn type_size(self) -> usize {
        self.row().4
    }
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|r| r.1 == id).map(|r| r.0)
    }
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TABLE.iter().find(|r| r.2.eq_ignore_ascii_case(name)).map(|r| r.0)
    }
    /// Bytes of a row of `n` values; `None` when `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        (n % self.block_size() == 0).then(|| n / self.block_size() * self.type_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for &(t, id, name, _, _) in TABLE {
            assert_eq!(GgmlType::from_id(id), Some(t));
            assert_eq!(GgmlType::from_name(name), Some(t));
        }
        assert_eq!(Q4K.row_bytes(512), Some(288));
        assert_eq!(Q4K.row_bytes(128), None);
    }
}
