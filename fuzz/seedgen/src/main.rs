//! Seed inputs for the fuzz targets: tiny but complete RWKV-4..7 checkpoints (a few KB each, so
//! the fuzzer can afford whole files) in every container the readers take, plus pieces of the
//! golden files. `scripts/fuzz.sh seed` runs this as
//! `seedgen GOLDEN_DIR CORPUS_DIR` and then fuzz/corpus/TARGET/ holds the seeds of TARGET.

use convert::arch::{DeepEmbed, HParams, Version};
use convert::dtype::DType;
use convert::gguf::export::{plan, OutType};
use convert::hf::{write_folder, HfDtype, HfOptions};
use convert::torch::pickle;
use convert::torch::writer::{save, state_dict_pickle};
use convert::Model;
use std::io::Read;
use std::path::{Path, PathBuf};

type Tensors = Vec<(String, DType, Vec<usize>, Vec<u8>)>;

fn tiny(version: Version) -> HParams {
    let mut hp = HParams { n_layer: 2, n_embd: 8, vocab_size: 16, dim_att: 8, dim_ffn: 32, ..HParams::default() };
    match version {
        Version::V4 => {}
        Version::V5_0 | Version::V5_1 | Version::V5_2 => {
            hp.n_head = Some(2);
            hp.head_size = Some(4);
        }
        Version::V6 => {
            hp.n_head = Some(2);
            hp.head_size = Some(4);
            hp.time_mix_extra_dim = Some(2);
            hp.time_decay_extra_dim = Some(2);
        }
        Version::V7 => {
            hp.n_head = Some(2);
            hp.head_size = Some(4);
            hp.decay_lora = Some(2);
            hp.a_lora = Some(2);
            hp.v_lora = Some(2);
            hp.gate_lora = Some(3);
        }
    }
    hp
}

fn binunicode(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

/// The legacy stream (`_use_new_zipfile_serialization=False`) of `tensors`, storage keys "0", "1", …
fn legacy(tensors: &Tensors) -> Vec<u8> {
    let mut out = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    out.extend_from_slice(b"\x80\x02M\xe9\x03.");
    out.extend_from_slice(b"\x80\x02}(");
    binunicode(&mut out, "protocol_version");
    out.extend_from_slice(b"M\xe9\x03");
    binunicode(&mut out, "little_endian");
    out.extend_from_slice(b"\x88u.");
    let meta: Vec<(&str, DType, &[usize])> =
        tensors.iter().map(|(n, d, s, _)| (n.as_str(), *d, s.as_slice())).collect();
    out.extend(state_dict_pickle(&meta));
    out.extend_from_slice(b"\x80\x02](");
    for i in 0..tensors.len() {
        binunicode(&mut out, &i.to_string());
    }
    out.extend_from_slice(b"e.");
    for (_, dtype, shape, bytes) in tensors {
        let numel: usize = shape.iter().product();
        assert_eq!(numel * dtype.size(), bytes.len());
        out.extend_from_slice(&(numel as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// A safetensors file holding `tensors` under the given names.
fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut at = 0;
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            header.push(',');
        }
        header += &format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{at},{}]}}",
            dims.join(","),
            at + bytes.len()
        );
        at += bytes.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for (_, _, _, b) in tensors {
        out.extend_from_slice(b);
    }
    out
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Every pickle of a legacy stream, one by one (each parse says how many bytes it took).
fn legacy_pickles(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    for _ in 0..5 {
        match pickle::parse(&bytes[pos..]) {
            Ok(p) => {
                out.push(bytes[pos..pos + p.len].to_vec());
                pos += p.len;
            }
            Err(_) => break,
        }
    }
    out
}

fn zip_pickles(path: &Path) -> Vec<Vec<u8>> {
    let Ok(file) = std::fs::File::open(path) else { return Vec::new() };
    let Ok(mut zip) = zip::ZipArchive::new(file) else { return Vec::new() };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        if f.name().is_ok_and(|n| n.ends_with("data.pkl")) {
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            out.push(v);
        }
    }
    out
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [golden, corpus] = args.as_slice() else {
        eprintln!("usage: seedgen GOLDEN_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let work = std::env::temp_dir().join(format!("rwkv-seedgen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let dir = |t: &str| corpus.join(t);

    let versions = [
        ("v4", Version::V4, tiny(Version::V4)),
        ("v5.0", Version::V5_0, tiny(Version::V5_0)),
        ("v5.1", Version::V5_1, tiny(Version::V5_1)),
        ("v5.2", Version::V5_2, tiny(Version::V5_2)),
        ("v6", Version::V6, tiny(Version::V6)),
        ("v7", Version::V7, tiny(Version::V7)),
        ("v7de", Version::V7, HParams { deep_embed: Some(DeepEmbed { table_dim: 4, rank: 2 }), ..tiny(Version::V7) }),
    ];
    for (tag, version, hp) in &versions {
        for dtype in [DType::BF16, DType::F16, DType::F32] {
            let tensors = convert::synth::tensors(*version, hp, dtype, 7);
            let name = format!("tiny-{tag}-{dtype}");
            let pth = work.join(format!("{name}.pth"));
            save(&pth, &tensors).unwrap();
            // Checks that the tiny model is a complete, valid one before it becomes a seed.
            let model = open(&pth).unwrap_or_else(|e| panic!("{name}: {e}"));
            put(&dir("torch_zip"), &format!("{name}.pth"), &std::fs::read(&pth).unwrap());
            let leg = legacy(&tensors);
            put(&dir("torch_legacy"), &format!("{name}.pth"), &leg);
            let meta: Vec<(&str, DType, &[usize])> =
                tensors.iter().map(|(n, d, s, _)| (n.as_str(), *d, s.as_slice())).collect();
            if dtype == DType::BF16 {
                put(&dir("pickle"), &format!("{name}.pkl"), &state_dict_pickle(&meta));
                for (i, p) in legacy_pickles(&leg).iter().enumerate() {
                    put(&dir("pickle"), &format!("{name}-legacy-{i}.pkl"), p);
                }
            }
            // GGUF in each float type (DeepEmbed has no GGUF layout and is skipped there).
            for out in [OutType::F32, OutType::F16, OutType::BF16].into_iter().filter(|_| dtype == DType::BF16) {
                let Ok((writer, pending)) = plan(&model, out, &name) else { continue };
                let gguf = work.join(format!("{name}-{out:?}.gguf"));
                writer.write(&gguf, true, &pending, |_| {}).unwrap();
                // The float GGUF reads back as the same model.
                Model::open(&gguf).unwrap_or_else(|e| panic!("{name}: {e}"));
                put(&dir("gguf_reader"), &format!("{name}-{out:?}.gguf"), &std::fs::read(&gguf).unwrap());
            }
            // HF folder (the formats without an HF layout are skipped).
            if dtype != DType::F16 {
                let hf = work.join(format!("{name}-hf"));
                let opts = HfOptions {
                    dtype: HfDtype::Keep,
                    max_shard_bytes: u64::MAX,
                    force: true,
                    remote_code_dir: None,
                    context_length: None,
                };
                if write_folder(&model, &hf, &opts, |_, _| {}).is_ok() {
                    let st = std::fs::read(hf.join("model.safetensors")).unwrap();
                    put(&dir("safetensors_header"), &format!("{name}.safetensors"), &st);
                }
            }
        }
    }
    // A quantized GGUF of a model whose rows are whole blocks of 32 (K-quants fall back as in
    // llama.cpp): dequantization in the GGUF reader.
    let hp = HParams { n_embd: 32, dim_att: 32, dim_ffn: 128, head_size: Some(16), ..tiny(Version::V7) };
    let pth = work.join("q.pth");
    save(&pth, &convert::synth::tensors(Version::V7, &hp, DType::BF16, 3)).unwrap();
    let model = open(&pth).unwrap();
    let (writer, pending) = plan(&model, OutType::BF16, "q").unwrap();
    let float = work.join("q-bf16.gguf");
    writer.write(&float, true, &pending, |_| {}).unwrap();
    let f = convert::gguf::GgufFile::open(&float).unwrap();
    for ft in ["Q8_0", "Q4_0", "IQ4_NL", "Q4_K_M", "Q6_K"] {
        let ftype = quantize::ftype::FileType::parse(ft).unwrap();
        let out = work.join(format!("q-{ft}.gguf"));
        match convert::gguf::requantize::write(&f, &out, ftype, &Default::default(), true, |_| {}) {
            Ok(_) => put(&dir("gguf_reader"), &format!("tiny-v7-{ft}.gguf"), &std::fs::read(&out).unwrap()),
            Err(e) => eprintln!("seedgen: no {ft} seed: {e}"),
        }
    }
    // fla's older packed layout: `attn.x_x` [6, C] for the six token-shift mixes.
    let x_x: Vec<u8> = (0..6 * 8).flat_map(|i| (i as f32 / 48.0).to_le_bytes()).collect();
    let emb: Vec<u8> = (0..16 * 8).flat_map(|i| ((i % 7) as f32).to_le_bytes()).collect();
    put(
        &dir("safetensors_header"),
        "fla-packed-x_x.safetensors",
        &safetensors(&[
            ("model.layers.0.attn.x_x", "F32", vec![6, 8], x_x),
            ("model.embeddings.weight", "F32", vec![16, 8], emb),
        ]),
    );

    // Pieces of the golden files: every data.pkl, the legacy pickles, the small container files,
    // and GGUF/HF headers cut short.
    let mut golden_files: Vec<PathBuf> = std::fs::read_dir(golden)
        .unwrap()
        .chain(std::fs::read_dir(golden.join("containers")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pth"))
        .collect();
    golden_files.sort();
    for p in &golden_files {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        for (i, pkl) in zip_pickles(p).iter().enumerate() {
            put(&dir("pickle"), &format!("golden-{stem}-{i}.pkl"), pkl);
        }
        let bytes = std::fs::read(p).unwrap();
        if convert::torch::is_legacy_stream(&bytes) {
            for (i, pkl) in legacy_pickles(&bytes).iter().enumerate() {
                put(&dir("pickle"), &format!("golden-{stem}-legacy-{i}.pkl"), pkl);
            }
            if bytes.len() <= 64 << 10 {
                put(&dir("torch_legacy"), &format!("golden-{stem}.pth"), &bytes);
            }
        } else if bytes.len() <= 64 << 10 {
            put(&dir("torch_zip"), &format!("golden-{stem}.pth"), &bytes);
        }
    }
    for v in ["v6-bf16", "v7-bf16"] {
        let model = open(&golden.join(format!("{v}.pth"))).unwrap();
        let (writer, pending) = plan(&model, OutType::BF16, v).unwrap();
        let gguf = work.join(format!("{v}.gguf"));
        writer.write(&gguf, true, &pending, |_| {}).unwrap();
        let bytes = std::fs::read(&gguf).unwrap();
        put(&dir("gguf_reader"), &format!("golden-{v}-head.gguf"), &bytes[..bytes.len().min(48 << 10)]);
    }
    if let Ok(entries) = std::fs::read_dir(golden.join("hf")) {
        for p in entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "safetensors")) {
            let bytes = std::fs::read(&p).unwrap();
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            // The header alone (the reader refuses the missing data, after parsing the header).
            put(
                &dir("safetensors_header"),
                &format!("golden-{stem}-header.safetensors"),
                &bytes[..(8 + n).min(bytes.len())],
            );
        }
    }

    // Tokenizer: mode byte 0 (bytes round trip), 1 (UTF-8 round trip), 2 (decode ids), 3 (parse a
    // vocabulary).
    let corpus_text = std::fs::read(golden.join("tokenizer/corpus.txt")).unwrap_or_default();
    let texts: Vec<&[u8]> = corpus_text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).take(40).collect();
    for (i, t) in texts.iter().enumerate() {
        let t = &t[..t.len().min(2000)];
        let mode = (i % 2) as u8;
        put(&dir("tokenizer"), &format!("text-{i}"), &[&[mode][..], t].concat());
    }
    for (i, s) in
        ["\n\nUser: 你好\n\nAssistant:", "\x00abc\u{80}\u{10ffff}", "😀 emoji ✓ ü", "  \t\r\n\r\n"].iter().enumerate()
    {
        put(&dir("tokenizer"), &format!("special-{i}"), &[&[1u8][..], s.as_bytes()].concat());
    }
    let mut ids = vec![2u8];
    for id in [33155u32, 40213, 261, 24281, 59, 33, 10464, 11685, 2423, 1, 65529] {
        ids.extend_from_slice(&id.to_le_bytes());
    }
    put(&dir("tokenizer"), "ids", &ids);
    // The first 300 lines of the World vocabulary (all single bytes and a few longer tokens).
    let vocab: Vec<&[u8]> = convert::vocab::WORLD_VOCAB.split(|&b| b == b'\n').take(300).collect();
    put(&dir("tokenizer"), "vocab-head", &[&[3u8][..], &vocab.join(&b'\n')].concat());

    // Dequantize: type id byte, then the bytes llama.cpp wrote (golden/quant), a few blocks each.
    if let Ok(entries) = std::fs::read_dir(golden.join("quant")) {
        for p in entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "bin")) {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let Some(ty) = quantize::GgmlType::from_name(&stem.split('.').next().unwrap().to_lowercase()) else {
                continue;
            };
            let bytes = std::fs::read(&p).unwrap();
            let n = (ty.type_size() * 8).min(bytes.len());
            put(&dir("dequantize"), &format!("{stem}"), &[&[ty.id() as u8][..], &bytes[..n]].concat());
        }
    }
    std::fs::remove_dir_all(&work).unwrap();
    for t in ["pickle", "torch_zip", "torch_legacy", "safetensors_header", "gguf_reader", "tokenizer", "dequantize"] {
        let n = std::fs::read_dir(dir(t)).map(|d| d.count()).unwrap_or(0);
        println!("{t:<20} {n} seeds");
    }
}

/// Open a test model; its small vocabulary takes World's first ids (the GGUF tokenizer the
/// seeds carry), as `--tokenizer world` gives it.
fn open(path: &std::path::Path) -> convert::Result<Model> {
    let mut model = Model::open(path)?;
    model.set_vocab(convert::vocab::Vocab::World)?;
    Ok(model)
}
