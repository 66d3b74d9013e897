//! Malicious, truncated, corrupted and empty files: always a clear error naming the file, never a
//! panic, never code execution.

use convert::model::Source;
use convert::torch::TorchCheckpoint;
use convert::{ErrorKind, Model};
use memmap2::{Mmap, MmapMut};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

fn map_bytes(bytes: &[u8]) -> Arc<Mmap> {
    let mut m = MmapMut::map_anon(bytes.len().max(1)).unwrap();
    m[..bytes.len()].copy_from_slice(bytes);
    Arc::new(m.make_read_only().unwrap())
}

/// Open bytes as a checkpoint and a model; any error must name the file.
fn open_bytes(bytes: &[u8]) -> Result<Model, convert::Error> {
    open_map(map_bytes(bytes))
}

fn open_map(map: Arc<Mmap>) -> Result<Model, convert::Error> {
    let path = Path::new("suspect.pth");
    let size = map.len() as u64;
    let ckpt = TorchCheckpoint::from_map(path, map)?;
    let source = Source::TorchZip { prefix: String::new() };
    Model::new(path, source, size, ckpt.tensors)
}

/// A torch-style zip (stored entries) holding the given pickle as `archive/data.pkl`.
fn zip_with_pickle(pickle: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(pickle).unwrap();
    w.start_file("archive/version", opts).unwrap();
    w.write_all(b"3\n").unwrap();
    w.finish().unwrap().into_inner()
}

/// The legacy stream: magic, protocol, sys_info, then the given main pickle.
fn legacy_with_pickle(pickle: &[u8]) -> Vec<u8> {
    let mut out = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    out.extend_from_slice(b"\x80\x02M\xe9\x03.");
    out.extend_from_slice(b"\x80\x02}(X\x0d\x00\x00\x00little_endian\x88u.");
    out.extend_from_slice(pickle);
    out
}

fn canary(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rwkv-convert-canary-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn binunicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

/// `{'w': f(arg)}` where f is the global `module.name`, called through REDUCE.
fn evil_state_dict(module: &str, name: &str, arg: &str) -> Vec<u8> {
    let mut p = b"\x80\x02}q\x00(".to_vec();
    p.extend(binunicode("w"));
    p.extend(format!("c{module}\n{name}\n").bytes());
    p.extend(binunicode(arg));
    p.extend_from_slice(b"\x85Ru.");
    p
}

#[test]
fn malicious_globals_are_refused_and_nothing_runs() {
    let cases =
        [("posix", "system"), ("os", "system"), ("builtins", "eval"), ("__builtin__", "eval"), ("builtins", "exec")];
    for (module, name) in cases {
        let canary = canary(&format!("{module}-{name}"));
        let arg = match name {
            "system" => format!("touch {}", canary.display()),
            _ => format!("open({:?}, 'w').close()", canary.display().to_string()),
        };
        let pickle = evil_state_dict(module, name, &arg);
        for bytes in [zip_with_pickle(&pickle), legacy_with_pickle(&pickle)] {
            let err = open_bytes(&bytes).err().expect("a malicious pickle must be refused");
            assert_eq!(err.kind, ErrorKind::Refused, "{err}");
            assert!(err.to_string().contains(&format!("'{module}.{name}'")), "{err}");
            assert!(err.to_string().starts_with("suspect.pth: "), "{err}");
        }
        assert!(!canary.exists(), "{} appeared", canary.display());
    }
}

#[test]
fn stack_global_form_is_refused_too() {
    // Protocol 4, as pickle.dumps of an object whose __reduce__ is (os.system, (cmd,)).
    let canary = canary("stack-global");
    let cmd = format!("touch {}", canary.display());
    let mut p = b"\x80\x04}(".to_vec();
    p.extend(binunicode("w"));
    p.extend_from_slice(b"\x8c\x05posix\x94\x8c\x06system\x94\x93\x94");
    p.extend(binunicode(&cmd));
    p.extend_from_slice(b"\x85Ru.");
    let err = open_bytes(&zip_with_pickle(&p)).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("posix.system"), "{err}");
    assert!(!canary.exists());
}

#[test]
fn allowlisted_callables_with_odd_arguments_are_refused() {
    // OrderedDict([('a', 1)]): allowlisted name, but only the empty call is ever emitted by torch.
    let mut p = b"\x80\x02ccollections\nOrderedDict\n]".to_vec();
    p.extend(binunicode("a"));
    p.extend_from_slice(b"K\x01\x86a\x85R.");
    let err = open_bytes(&zip_with_pickle(&p)).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    // BUILD on something other than a dict.
    let err = open_bytes(&zip_with_pickle(b"\x80\x02K\x01K\x02b.")).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    // INST / OBJ / NEWOBJ build arbitrary objects: refused as opcodes.
    for op in [b'i', b'o', 0x81u8, 0x92] {
        let err = open_bytes(&zip_with_pickle(&[0x80, 2, b'(', op, b'.'])).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Refused, "opcode {op:#x}: {err}");
    }
}

#[test]
fn the_cli_refuses_a_malicious_file_with_exit_code_1_and_no_panic() {
    let canary = canary("cli");
    let bytes = zip_with_pickle(&evil_state_dict("posix", "system", &format!("touch {}", canary.display())));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil.pth");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rwkv-convert")).arg("inspect").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("evil.pth") && stderr.contains("posix.system"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!canary.exists());
}

#[test]
fn empty_and_foreign_files_are_named_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pth");
    std::fs::write(&empty, b"").unwrap();
    let err = TorchCheckpoint::open(&empty).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert_eq!(err.to_string(), format!("{}: the file is empty", empty.display()));

    let err = TorchCheckpoint::open(&dir.path().join("missing.pth")).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Io);
    assert!(err.to_string().contains("missing.pth"), "{err}");

    let err = open_bytes(b"GGUF\x03\x00\x00\x00 not really").err().unwrap();
    assert!(err.message.contains("GGUF"), "{err}");
    let err = open_bytes(b"hello, I am a text file").err().unwrap();
    assert!(err.message.contains("not a torch checkpoint"), "{err}");
}

#[test]
fn every_truncation_of_a_checkpoint_is_a_clean_error() {
    for name in ["v7-bf16.pth", "v4-bf16-legacy.pth"] {
        let bytes = std::fs::read(golden(name)).unwrap();
        let n = bytes.len();
        let mut cuts: Vec<usize> = (1..64).chain((64..n).step_by(997)).collect();
        cuts.extend([n / 2, n - 1, n - 22, n - 23, n - 100]);
        for cut in cuts {
            match open_bytes(&bytes[..cut]) {
                Ok(_) => panic!("{name} cut at {cut} of {n} bytes opened"),
                Err(e) => assert!(e.to_string().starts_with("suspect.pth: "), "{e}"),
            }
        }
    }
}

#[test]
fn flipped_bytes_in_headers_and_pickle_never_panic() {
    // The pickle sits at the start of a torch zip and the central directory at its end: corrupt
    // every byte there (data bytes are plain values and cannot be checked without a CRC pass).
    for name in ["v5.2-bf16.pth", "v4-bf16-legacy.pth"] {
        let bytes = std::fs::read(golden(name)).unwrap();
        let n = bytes.len();
        let positions: Vec<usize> =
            (0..n.min(12_000)).step_by(3).chain((n.saturating_sub(6_000)..n).step_by(3)).collect();
        let mut errors = 0;
        // One map, flipped in place and re-protected each round: no 1 MB copy per position.
        let mut map = MmapMut::map_anon(n).unwrap();
        map.copy_from_slice(&bytes);
        for pos in positions {
            map[pos] ^= 0xA5;
            let ro = Arc::new(map.make_read_only().unwrap());
            if let Err(e) = open_map(ro.clone()) {
                assert!(e.to_string().starts_with("suspect.pth: "), "{e}");
                errors += 1;
            }
            map = Arc::try_unwrap(ro).expect("no tensor outlives the check").make_mut().unwrap();
            map[pos] ^= 0xA5;
        }
        assert!(errors > 100, "{name}: only {errors} corruptions were noticed");
    }
}

#[test]
fn a_flipped_data_byte_fails_the_crc_check_naming_the_tensor() {
    let path = golden("v7-bf16.pth");
    let good = TorchCheckpoint::open(&path).unwrap();
    let checked = good.verify().unwrap();
    assert_eq!(checked, good.records.len(), "torch writes a CRC for every entry");
    let head = good.tensors.iter().find(|t| t.name == "head.weight").unwrap();
    let at = match &head.data {
        convert::tensor::Bytes::Mapped { range, .. } => range.start + 1000,
        other => panic!("head.weight should be mapped, is {other:?}"),
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x01;
    let bad = TorchCheckpoint::from_map(Path::new("suspect.pth"), map_bytes(&bytes)).unwrap();
    let err = bad.verify().err().expect("the CRC check must fail");
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert_eq!(err.tensor.as_deref(), Some("head.weight"));
    assert!(err.to_string().starts_with("suspect.pth: tensor 'head.weight': zip entry"), "{err}");
}
