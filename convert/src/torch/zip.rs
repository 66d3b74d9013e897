//! The torch ≥ 1.6 container: a zip whose entries are stored (never compressed) and aligned, so
//! each storage is a plain byte range of the mapped file. Sizes come from the central directory:
//! torch's local headers carry zeros (flag bit 3).

use super::{materialize, pickle, state_dict_entries, Container, Record, StorageBytes};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use memmap2::Mmap;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::sync::Arc;
use zip::CompressionMethod;

struct Entry {
    range: std::ops::Range<usize>,
    stored: bool,
    crc32: u32,
}

/// The entries of the archive, read through `reader` (the file itself when there is one, so that
/// walking one local header per tensor across a many-GB file never maps those pages into memory).
fn entries<R: Read + Seek>(reader: R, map: &Mmap) -> Result<HashMap<String, Entry>> {
    let zip_err = |e: zip::result::ZipError| Error::corrupt(format!("not a readable zip archive: {e}"));
    // The directory of a zip is at its end: when it cannot be read, the usual cause is a file cut
    // short (an interrupted download or copy).
    // A torch archive starts at byte 0 (we sniffed its first local header there). Saying so
    // matters: left to detect the offset, zip 9.8 takes `EOCD - directory size` as the directory's
    // start, which ignores the zip64 end records (76 bytes) that torch always writes between the
    // directory and the EOCD; when the first directory record is itself 76 bytes long (a 30-byte
    // name such as `tiny-rwkv-6v0-1m-fp32/data.pkl`), the second record sits exactly there, and
    // every offset in the archive is read 76 bytes off ("Invalid Central Directory header").
    let config = zip::read::Config { archive_offset: zip::read::ArchiveOffset::Known(0) };
    let mut archive = zip::ZipArchive::with_config(config, reader).map_err(|e| {
        Error::corrupt(format!(
            "not a readable zip archive: {e}; its directory, at the end of the file, is missing or damaged \
             (truncated? an interrupted download or copy cuts it off)"
        ))
    })?;
    let mut out = HashMap::with_capacity(archive.len());
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(zip_err)?;
        let name = file.name().map_err(zip_err)?.into_owned();
        let start =
            file.data_start().ok_or_else(|| Error::corrupt(format!("zip entry '{name}' has no data offset")))?;
        let size = file.compressed_size();
        let stored = file.compression() == CompressionMethod::Stored && size == file.size();
        let crc32 = file.crc32();
        let range = usize::try_from(start)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(s, n)| Some(s..s.checked_add(n)?))
            .filter(|r| r.end <= map.len())
            .ok_or_else(|| {
                Error::corrupt(format!(
                    "zip entry '{name}' claims {size} bytes at offset {start}, past the end of the {}-byte file (truncated?)",
                    map.len()
                ))
            })?;
        out.insert(name, Entry { range, stored, crc32 });
    }
    Ok(out)
}

pub fn read(map: &Arc<Mmap>, file: Option<&File>) -> Result<(Container, Vec<Tensor>, Vec<Record>)> {
    let entries = match file {
        Some(f) => entries(BufReader::new(f), map)?,
        None => entries(Cursor::new(&map[..]), map)?,
    };
    let mut pkls: Vec<&String> = entries.keys().filter(|n| n.ends_with("/data.pkl") || *n == "data.pkl").collect();
    pkls.sort();
    let pkl_name = match pkls.as_slice() {
        [one] => (*one).clone(),
        [] => return Err(Error::corrupt("zip archive has no data.pkl entry: not a torch checkpoint")),
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            return Err(Error::unsupported(format!("zip archive has several data.pkl entries: {}", names.join(", "))));
        }
    };
    let prefix = pkl_name.strip_suffix("data.pkl").unwrap_or("").to_string();
    if entries.contains_key(&format!("{prefix}constants.pkl"))
        || entries.keys().any(|n| n.starts_with(&format!("{prefix}code/")))
    {
        return Err(Error::unsupported("this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint"));
    }
    if let Some(bo) = entries.get(&format!("{prefix}byteorder")) {
        if &map[bo.range.clone()] != b"little" {
            return Err(Error::unsupported("checkpoint was saved big-endian; only little-endian files are supported"));
        }
    }
    let pkl = &entries[&pkl_name];
    if !pkl.stored {
        return Err(Error::unsupported(format!(
            "zip entry '{pkl_name}' is compressed; torch.save never compresses, re-save the file"
        )));
    }
    let parsed = pickle::parse(&map[pkl.range.clone()]).map_err(|mut e| {
        e.message = format!("{pkl_name}: {}", e.message);
        e
    })?;
    let mut tensors = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    for (name, t) in state_dict_entries(&parsed.value)? {
        let record = format!("{prefix}data/{}", t.storage.key);
        let entry = entries.get(&record).ok_or_else(|| {
            Error::corrupt(format!("its storage record '{record}' is missing from the archive")).tensor(&name)
        })?;
        if !entry.stored {
            return Err(Error::unsupported(format!("storage record '{record}' is compressed")).tensor(&name));
        }
        let want = t.storage.numel.checked_mul(t.storage.dtype.size() as u64);
        if want != Some(entry.range.len() as u64) {
            return Err(Error::corrupt(format!(
                "storage record '{record}' has {} bytes, but the pickle declares {} {} elements",
                entry.range.len(),
                t.storage.numel,
                t.storage.dtype
            ))
            .tensor(&name));
        }
        let storage = StorageBytes { map: map.clone(), range: entry.range.clone() };
        tensors.push(materialize(&name, &t, &storage)?);
        match records.iter_mut().find(|r| r.name == record) {
            Some(r) => r.tensors.push(name),
            None => records.push(Record {
                name: record,
                range: entry.range.clone(),
                crc32: entry.crc32,
                tensors: vec![name],
            }),
        }
    }
    records.push(Record { name: pkl_name, range: pkl.range.clone(), crc32: pkl.crc32, tensors: Vec::new() });
    let prefix = prefix.trim_end_matches('/').to_string();
    Ok((Container::Zip { prefix }, tensors, records))
}
