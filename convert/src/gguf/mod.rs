//! GGUF v3 (ggml-org/ggml `docs/gguf.md`, llama.cpp `ggml/src/gguf.cpp`): our own reader and
//! writer, with exact control of key order, tensor order, alignment and padding.

pub mod export;
pub mod imatrix;
pub mod import;
pub mod reader;
pub mod requantize;
pub mod tokenizer;
pub mod writer;

pub use reader::GgufFile;
pub use writer::{GgufWriter, PendingTensor};

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const VERSION: u32 = 3;
pub const DEFAULT_ALIGNMENT: usize = 32;

/// A metadata value with its GGUF type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Element type code and the elements (all of that type).
    Array(u32, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn type_code(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::Array(..) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }
    pub fn strings(items: impl IntoIterator<Item = String>) -> Value {
        Value::Array(8, items.into_iter().map(Value::Str).collect())
    }
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A short rendering for `inspect`.
    pub fn describe(&self) -> String {
        match self {
            Value::Str(s) if s.len() > 80 => {
                format!("{:?}… ({} bytes)", &s[..s.char_indices().nth(60).map_or(s.len(), |c| c.0)], s.len())
            }
            Value::Str(s) => format!("{s:?}"),
            Value::Array(_, items) if items.len() > 6 => {
                let head: Vec<String> = items.iter().take(4).map(Value::describe).collect();
                format!("[{}, … {} items]", head.join(", "), items.len())
            }
            Value::Array(_, items) => format!("[{}]", items.iter().map(Value::describe).collect::<Vec<_>>().join(", ")),
            Value::F32(v) => format!("{v:e}"),
            Value::F64(v) => format!("{v:e}"),
            Value::Bool(b) => b.to_string(),
            other => other.as_u64().map(|v| v.to_string()).unwrap_or_else(|| format!("{other:?}")),
        }
    }
}

/// Round up to a multiple of `align`.
pub fn pad(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}
