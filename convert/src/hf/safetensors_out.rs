//! Streaming safetensors writer with the `safetensors` crate's byte layout (the one Python's
//! `save_file` produces): tensors ordered by dtype (descending) then name, header
//! `{"__metadata__":…, name: {dtype, shape, data_offsets}}` compact, padded with spaces to 8.

use crate::error::Result;
use crate::output::{AtomicFile, FileSink, TensorData};
use std::path::Path;

/// A tensor to write; `data` streams its bytes.
pub struct StTensor<'a> {
    pub name: String,
    /// safetensors dtype name: F32, F16, BF16.
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub n_bytes: usize,
    pub data: TensorData<'a>,
}

/// The `safetensors` crate's `Dtype` order (it sorts tensors by it, descending).
fn dtype_rank(d: &str) -> u32 {
    match d {
        "F16" => 11,
        "BF16" => 12,
        "F32" => 15,
        "F64" => 17,
        _ => 0,
    }
}

/// Sort as the crate does: dtype descending, then name.
pub fn layout_order(tensors: &mut [StTensor]) {
    tensors.sort_by(|a, b| dtype_rank(b.dtype).cmp(&dtype_rank(a.dtype)).then(a.name.cmp(&b.name)));
}

pub fn header(tensors: &[StTensor], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut h = String::from("{");
    if !metadata.is_empty() {
        let m: Vec<String> =
            metadata.iter().map(|(k, v)| format!("{}:{}", serde_json::json!(k), serde_json::json!(v))).collect();
        h += &format!("\"__metadata__\":{{{}}}", m.join(","));
    }
    let mut offset = 0usize;
    for t in tensors {
        if h.len() > 1 {
            h.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        h += &format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            serde_json::json!(t.name),
            t.dtype,
            shape.join(","),
            offset,
            offset + t.n_bytes
        );
        offset += t.n_bytes;
    }
    h.push('}');
    let mut bytes = h.into_bytes();
    bytes.resize(bytes.len().div_ceil(8) * 8, b' ');
    let mut out = (bytes.len() as u64).to_le_bytes().to_vec();
    out.extend(bytes);
    out
}

/// Write one safetensors file (tensors already in layout order), atomically.
pub fn write(path: &Path, force: bool, tensors: &[StTensor], mut progress: impl FnMut()) -> Result<()> {
    let mut file = AtomicFile::create(path, force)?;
    file.write_all(&header(tensors, &[("format", "pt")]))?;
    for t in tensors {
        let mut sink = FileSink::new(&mut file);
        (t.data)(&mut sink).map_err(|e| e.tensor(&t.name).at(path))?;
        let written = sink.written();
        if written != t.n_bytes {
            return Err(crate::Error::corrupt(format!("made {written} bytes, expected {}", t.n_bytes))
                .tensor(&t.name)
                .at(path));
        }
        progress();
    }
    file.finish()
}
