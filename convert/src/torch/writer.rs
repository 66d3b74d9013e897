//! Writing a state dict as torch ≥ 1.6 does (`torch.save(state_dict, path)`): a stored zip with
//! 64-byte aligned records and a protocol-2 pickle. Used to make synthetic checkpoints of any
//! shape for tests and benchmarks; torch loads these files.

use crate::dtype::DType;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use zip::write::SimpleFileOptions;

fn storage_class(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FloatStorage",
        DType::F16 => "HalfStorage",
        DType::BF16 => "BFloat16Storage",
        DType::F64 => "DoubleStorage",
        DType::I64 => "LongStorage",
        DType::I32 => "IntStorage",
        DType::I16 => "ShortStorage",
        DType::I8 => "CharStorage",
        DType::U8 => "ByteStorage",
        DType::Bool => "BoolStorage",
        // Refused by `save` before any pickle is made.
        DType::Quant { .. } => unreachable!("torch has no storage for ggml blocks"),
    }
}

fn unicode(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

fn int(p: &mut Vec<u8>, v: u64) {
    if v < 1 << 31 {
        p.push(b'J');
        p.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        p.extend_from_slice(&[0x8a, 8]);
        p.extend_from_slice(&v.to_le_bytes());
    }
}

fn tuple(p: &mut Vec<u8>, items: &[u64]) {
    p.push(b'(');
    for &i in items {
        int(p, i);
    }
    p.push(b't');
}

/// The pickle of `OrderedDict(name → tensor)` whose tensor i lives in storage record `i`.
pub fn state_dict_pickle(tensors: &[(&str, DType, &[usize])]) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for (i, (name, dtype, shape)) in tensors.iter().enumerate() {
        unicode(&mut p, name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        unicode(&mut p, "storage");
        p.extend_from_slice(format!("ctorch\n{}\n", storage_class(*dtype)).as_bytes());
        unicode(&mut p, &i.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, shape.iter().product::<usize>() as u64);
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        tuple(&mut p, &dims);
        let mut strides = vec![1u64; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1] as u64;
        }
        tuple(&mut p, &strides);
        p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)Rt");
        p.push(b'R');
    }
    p.extend_from_slice(b"u.");
    p
}

/// Write `tensors` (name, dtype, shape, little-endian bytes) to `path` as torch.save would; the
/// zip's top folder is the file's stem, as torch 2.x names it. Written atomically.
pub fn save(path: &Path, tensors: &[(String, DType, Vec<usize>, Vec<u8>)]) -> Result<()> {
    let prefix = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "archive".into());
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let zerr = |e: zip::result::ZipError| Error::new(crate::ErrorKind::Io, e.to_string()).at(path);
    let ioerr = |e: std::io::Error| Error::io(e, path);
    let file = File::create(&tmp).map_err(|e| Error::io(e, &tmp))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64)
        .large_file(true);
    if let Some((name, d, ..)) = tensors.iter().find(|t| t.1.is_quant()) {
        return Err(Error::unsupported(format!("{d} blocks cannot be saved in a torch checkpoint")).tensor(name));
    }
    let meta: Vec<(&str, DType, &[usize])> =
        tensors.iter().map(|(n, d, s, _)| (n.as_str(), *d, s.as_slice())).collect();
    zip.start_file(format!("{prefix}/data.pkl"), opts).map_err(zerr)?;
    zip.write_all(&state_dict_pickle(&meta)).map_err(ioerr)?;
    zip.start_file(format!("{prefix}/byteorder"), opts).map_err(zerr)?;
    zip.write_all(b"little").map_err(ioerr)?;
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let want = shape.iter().product::<usize>() * dtype.size();
        if bytes.len() != want {
            return Err(Error::corrupt(format!("{} bytes for shape {shape:?} of {dtype}", bytes.len())).tensor(name));
        }
        zip.start_file(format!("{prefix}/data/{i}"), opts).map_err(zerr)?;
        zip.write_all(bytes).map_err(ioerr)?;
    }
    zip.start_file(format!("{prefix}/version"), opts).map_err(zerr)?;
    zip.write_all(b"3\n").map_err(ioerr)?;
    let file = zip.finish().map_err(zerr)?;
    file.sync_all().map_err(ioerr)?;
    std::fs::rename(&tmp, path).map_err(ioerr)
}
