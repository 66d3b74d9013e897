//! GGUF reader: every declared size, count and offset is checked against the file before it is
//! used; tensor data stays in the memory map.

use super::{pad, Value, DEFAULT_ALIGNMENT, MAGIC};
use crate::error::{Error, Result, ResultExt};
use memmap2::Mmap;
use quantize::GgmlType;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAX_STRING: u64 = 1 << 30;
const MAX_ARRAY: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order (innermost first).
    pub ne: Vec<u64>,
    pub ty: GgmlType,
    /// Byte range in the file.
    pub range: Range<usize>,
}

impl TensorInfo {
    /// The torch-order shape (reverse of `ne`).
    pub fn shape(&self) -> Vec<usize> {
        self.ne.iter().rev().map(|&d| d as usize).collect()
    }
}

pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub kv: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: usize,
    pub data_start: usize,
    pub map: Arc<Mmap>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let end = usize::try_from(n).ok().and_then(|n| self.pos.checked_add(n)).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => {
                Err(Error::corrupt(format!("{what} at byte {} runs past the end of the file (truncated?)", self.pos)))
            }
        }
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u64(what)?;
        if n > MAX_STRING {
            return Err(Error::corrupt(format!("{what} at byte {} claims {n} bytes", self.pos)));
        }
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        let at = self.pos;
        Ok(match ty {
            0 => Value::U8(self.take(1, "u8")?[0]),
            1 => Value::I8(self.take(1, "i8")?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.take(2, "u16")?.try_into().expect("2"))),
            3 => Value::I16(i16::from_le_bytes(self.take(2, "i16")?.try_into().expect("2"))),
            4 => Value::U32(self.u32("u32")?),
            5 => Value::I32(self.u32("i32")? as i32),
            6 => Value::F32(f32::from_bits(self.u32("f32")?)),
            7 => Value::Bool(self.take(1, "bool")?[0] != 0),
            8 => Value::Str(self.string("string")?),
            9 => {
                if depth > 0 {
                    return Err(Error::corrupt(format!("array of arrays at byte {at}")));
                }
                let elem = self.u32("array type")?;
                let n = self.u64("array length")?;
                // Each element takes at least one byte: a count beyond the rest of the file is a lie.
                if n > MAX_ARRAY || n > (self.data.len() - self.pos) as u64 {
                    return Err(Error::corrupt(format!("array at byte {at} claims {n} elements")));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(elem, items)
            }
            10 => Value::U64(self.u64("u64")?),
            11 => Value::I64(self.u64("i64")? as i64),
            12 => Value::F64(f64::from_bits(self.u64("f64")?)),
            other => return Err(Error::corrupt(format!("unknown value type {other} at byte {at}"))),
        })
    }
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<GgufFile> {
        let map = crate::torch::map_file(path)?;
        Self::from_map(path, map).at(path)
    }

    pub fn from_map(path: &Path, map: Arc<Mmap>) -> Result<GgufFile> {
        let data: &[u8] = &map;
        let mut c = Cursor { data, pos: 0 };
        if c.take(4, "magic")? != MAGIC {
            return Err(Error::corrupt("not a GGUF file (bad magic)"));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(Error::unsupported(format!("GGUF version {version}; only 2 and 3 are read")));
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("key-value count")?;
        // Every record takes well over 8 bytes: counts beyond the file size are lies.
        if n_tensors > data.len() as u64 / 8 || n_kv > data.len() as u64 / 8 {
            return Err(Error::corrupt(format!(
                "header claims {n_tensors} tensors and {n_kv} keys in a {}-byte file",
                data.len()
            )));
        }
        let mut kv = Vec::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let key = c.string("key")?;
            let ty = c.u32("value type")?;
            let value = c.value(ty, 0).map_err(|e| Error::corrupt(format!("key '{key}': {}", e.message)))?;
            if kv.iter().any(|(k, _): &(String, Value)| *k == key) {
                return Err(Error::corrupt(format!("key '{key}' appears twice")));
            }
            kv.push((key, value));
        }
        let alignment = match kv.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, Value::U32(a))) if a.is_power_of_two() => *a as usize,
            Some((_, v)) => return Err(Error::corrupt(format!("general.alignment {v:?} is not a u32 power of two"))),
        };
        let mut infos = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32("dimension count")?;
            if !(1..=4).contains(&n_dims) {
                return Err(Error::corrupt(format!("{n_dims} dimensions")).tensor(&name));
            }
            let ne = (0..n_dims).map(|_| c.u64("dimension")).collect::<Result<Vec<u64>>>()?;
            let id = c.u32("type")?;
            let ty = GgmlType::from_id(id)
                .ok_or_else(|| Error::unsupported(format!("unknown ggml type {id}")).tensor(&name))?;
            let offset = c.u64("offset")?;
            infos.push((name, ne, ty, offset));
        }
        let data_start = pad(c.pos, alignment);
        let mut tensors = Vec::with_capacity(infos.len());
        for (name, ne, ty, offset) in infos {
            let err = |m: String| Error::corrupt(m).tensor(&name);
            let (bs, ts) = (ty.block_size() as u64, ty.type_size() as u64);
            if ne[0] % bs != 0 {
                return Err(err(format!("a row of {} values is not whole {ty} blocks", ne[0])));
            }
            // One row must fit in the file (so that `ty.row_bytes(ne[0])` cannot overflow later).
            let row = (ne[0] / bs).checked_mul(ts).filter(|&r| r <= data.len() as u64).ok_or_else(|| {
                err(format!("a row of {} {ty} values is larger than the {}-byte file", ne[0], data.len()))
            })?;
            let bytes =
                ne[1..].iter().try_fold(row, |a, &d| a.checked_mul(d)).ok_or_else(|| err("size overflows".into()))?;
            let start = (data_start as u64).checked_add(offset).ok_or_else(|| err("offset overflows".into()))?;
            let end = start.checked_add(bytes).filter(|&e| e <= data.len() as u64).ok_or_else(|| {
                err(format!(
                    "data at offset {offset} ({bytes} bytes) runs past the end of the {}-byte file",
                    data.len()
                ))
            })?;
            if (start as usize) % alignment != 0 {
                return Err(err(format!("data offset {offset} is not aligned to {alignment}")));
            }
            tensors.push(TensorInfo { name, ne, ty, range: start as usize..end as usize });
        }
        Ok(GgufFile { path: path.to_path_buf(), version, kv, tensors, alignment, data_start, map })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn bytes(&self, t: &TensorInfo) -> &[u8] {
        &self.map[t.range.clone()]
    }
}
