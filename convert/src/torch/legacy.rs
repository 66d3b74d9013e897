//! The legacy torch stream (`_use_new_zipfile_serialization=False`): pickles of the magic number,
//! the protocol version, sys info, the object and the sorted storage keys; then each storage as an
//! int64 element count followed by its raw bytes. The data is not aligned.

use super::{materialize, pickle, state_dict_entries, Container, StorageBytes};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use memmap2::Mmap;
use std::collections::HashMap;
use std::sync::Arc;

const MAGIC: i128 = 0x1950A86A20F9469CFC6C;
const PROTOCOL_VERSION: i128 = 1001;

fn next_pickle(map: &[u8], pos: &mut usize, what: &str) -> Result<pickle::Value> {
    let parsed = pickle::parse(&map[*pos..]).map_err(|mut e| {
        e.message = format!("legacy {what} pickle at byte {}: {}", *pos, e.message);
        e
    })?;
    *pos += parsed.len;
    Ok(parsed.value)
}

pub fn read(map: &Arc<Mmap>) -> Result<(Container, Vec<Tensor>)> {
    let mut pos = 0usize;
    if next_pickle(map, &mut pos, "magic")?.as_int() != Some(MAGIC) {
        return Err(Error::corrupt("legacy torch file with a wrong magic number"));
    }
    let proto = next_pickle(map, &mut pos, "protocol")?.as_int();
    if proto != Some(PROTOCOL_VERSION) {
        return Err(Error::unsupported(format!("legacy torch protocol {proto:?}, expected 1001")));
    }
    let sys_info = next_pickle(map, &mut pos, "sys_info")?;
    let little = sys_info
        .as_dict()
        .and_then(|d| d.iter().find(|(k, _)| k.as_str() == Some("little_endian")))
        .and_then(|(_, v)| v.as_int());
    if little != Some(1) {
        return Err(Error::unsupported("legacy torch file is not little-endian (or says nothing about it)"));
    }
    let object = next_pickle(map, &mut pos, "main")?;
    let entries = state_dict_entries(&object)?;
    let keys = next_pickle(map, &mut pos, "storage keys")?;
    let keys = keys.as_list().ok_or_else(|| Error::corrupt("legacy storage key list is not a list"))?;

    // Element sizes are known only from the main pickle's persistent ids.
    let mut declared: HashMap<&str, (DType, u64)> = HashMap::new();
    for (name, t) in &entries {
        let s = &t.storage;
        if let Some(&(dtype, numel)) = declared.get(s.key.as_str()) {
            if (dtype, numel) != (s.dtype, s.numel) {
                return Err(Error::corrupt(format!(
                    "storage '{}' is declared with two different types or sizes",
                    s.key
                ))
                .tensor(name));
            }
        }
        declared.insert(&s.key, (s.dtype, s.numel));
    }
    let mut ranges: HashMap<String, std::ops::Range<usize>> = HashMap::new();
    for key in keys {
        let key = key.as_str().ok_or_else(|| Error::corrupt("legacy storage key is not a string"))?;
        let &(dtype, numel) = declared.get(key).ok_or_else(|| {
            Error::corrupt(format!("legacy storage '{key}' is not used by any tensor; its size is unknown"))
        })?;
        let count_bytes = map.get(pos..pos + 8).ok_or_else(|| {
            Error::corrupt(format!("file ends before storage '{key}' (truncated at byte {})", map.len()))
        })?;
        let count = u64::from_le_bytes(count_bytes.try_into().expect("8 bytes"));
        if count != numel {
            return Err(Error::corrupt(format!(
                "storage '{key}' has {count} elements on disk but the pickle declares {numel}"
            )));
        }
        pos += 8;
        let len = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .filter(|&len| pos.checked_add(len).is_some_and(|end| end <= map.len()))
            .ok_or_else(|| Error::corrupt(format!("storage '{key}' runs past the end of the file (truncated?)")))?;
        ranges.insert(key.to_string(), pos..pos + len);
        pos += len;
    }
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, t) in &entries {
        let range = ranges.get(&t.storage.key).ok_or_else(|| {
            Error::corrupt(format!("storage '{}' is not in the file's key list", t.storage.key)).tensor(name)
        })?;
        let storage = StorageBytes { map: map.clone(), range: range.clone() };
        tensors.push(materialize(name, t, &storage)?);
    }
    Ok((Container::Legacy, tensors))
}
