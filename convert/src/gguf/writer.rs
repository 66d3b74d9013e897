//! Streaming GGUF writer: header, key-values and tensor records first (all sizes are known up
//! front), then each tensor's bytes, produced one at a time so that only one tensor is ever in
//! memory.

use super::{pad, Value, DEFAULT_ALIGNMENT, MAGIC, VERSION};
use crate::error::{Error, Result};
use crate::output::{AtomicFile, FileSink, TensorData};
use quantize::GgmlType;
use std::path::Path;

/// A tensor to write: its GGUF record, and a function that streams its bytes into a sink when
/// their turn comes (so no tensor needs to be whole in memory).
pub struct PendingTensor<'a> {
    pub name: String,
    /// ggml order: `ne[0]` is the contiguous dimension (the reverse of the torch shape).
    pub ne: Vec<u64>,
    pub ty: GgmlType,
    pub data: TensorData<'a>,
}

impl PendingTensor<'_> {
    pub fn n_bytes(&self) -> Result<usize> {
        let row = self.ty.row_bytes(self.ne[0] as usize).ok_or_else(|| {
            Error::unsupported(format!("a row of {} values is not a whole number of {} blocks", self.ne[0], self.ty))
                .tensor(&self.name)
        })?;
        Ok(self.ne[1..].iter().fold(row, |a, &d| a * d as usize))
    }
}

#[derive(Default)]
pub struct GgufWriter {
    pub kv: Vec<(String, Value)>,
    pub alignment: Option<usize>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::Str(s) => put_str(out, s),
        Value::Array(ty, items) => {
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, key: &str, value: Value) {
        self.kv.push((key.to_string(), value));
    }

    /// Header, key-values and tensor records, padded to the start of the data section.
    pub fn header(&self, tensors: &[PendingTensor]) -> Result<Vec<u8>> {
        let align = self.alignment.unwrap_or(DEFAULT_ALIGNMENT);
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        for (k, v) in &self.kv {
            put_str(&mut out, k);
            out.extend_from_slice(&v.type_code().to_le_bytes());
            put_value(&mut out, v);
        }
        let mut offset = 0usize;
        for t in tensors {
            if t.name.len() >= 64 {
                return Err(Error::unsupported("GGUF tensor names must be shorter than 64 bytes").tensor(&t.name));
            }
            put_str(&mut out, &t.name);
            out.extend_from_slice(&(t.ne.len() as u32).to_le_bytes());
            for d in &t.ne {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += pad(t.n_bytes()?, align);
        }
        out.resize(pad(out.len(), align), 0);
        Ok(out)
    }

    /// Write the whole file atomically; `progress(i)` is called after tensor `i` is written.
    pub fn write(
        &self,
        path: &Path,
        force: bool,
        tensors: &[PendingTensor],
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        let align = self.alignment.unwrap_or(DEFAULT_ALIGNMENT);
        let header = self.header(tensors)?;
        let mut file = AtomicFile::create(path, force)?;
        file.write_all(&header)?;
        for (i, t) in tensors.iter().enumerate() {
            let want = t.n_bytes()?;
            let mut sink = FileSink::new(&mut file);
            (t.data)(&mut sink).map_err(|e| e.tensor(&t.name).at(path))?;
            let written = sink.written();
            if written != want {
                return Err(Error::corrupt(format!("made {written} bytes, the record says {want}"))
                    .tensor(&t.name)
                    .at(path));
            }
            file.write_all(&vec![0u8; pad(want, align) - want])?;
            progress(i);
        }
        file.finish()
    }
}
