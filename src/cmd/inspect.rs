//! `rwkv-convert inspect FILE [--json]`

use super::out;
use anyhow::Result;
use convert::load::Format;
use convert::tensor::Bytes;
use convert::torch::TorchCheckpoint;
use convert::Model;
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint (`.pth`, torch zip or legacy).
    pub file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also read all tensor data and check it against the zip's CRC-32 checksums.
    #[arg(long)]
    pub verify: bool,
    /// List the file's tensors as stored, without recognising an RWKV model in them.
    #[arg(long)]
    pub raw: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.raw {
        return run_raw(&args);
    }
    match convert::load::sniff(&args.file) {
        Format::HfFolder => {
            let model = Model::open(&args.file)?;
            out(&if args.json { serde_json::to_string_pretty(&to_json(&model))? + "\n" } else { table(&model) });
            return Ok(());
        }
        Format::Gguf => return run_gguf(&args),
        Format::Torch => {}
    }
    let ckpt = TorchCheckpoint::open(&args.file)?;
    let verified = if args.verify { Some(ckpt.verify()?) } else { None };
    let model = Model::from_torch(ckpt)?;
    if args.json {
        let mut value = to_json(&model);
        if let Some(n) = verified {
            value["crc32_verified_entries"] = json!(n);
        }
        out(&(serde_json::to_string_pretty(&value)? + "\n"));
    } else {
        let mut text = table(&model);
        if let Some(n) = verified {
            text += &format!("\ncrc32       {n} zip entries verified\n");
        }
        out(&text);
    }
    Ok(())
}

fn to_json(m: &Model) -> serde_json::Value {
    let dtypes: serde_json::Map<String, serde_json::Value> = m
        .dtype_summary()
        .into_iter()
        .map(|(d, (n, bytes))| (d.to_string(), json!({ "tensors": n, "bytes": bytes })))
        .collect();
    let tensors: Vec<serde_json::Value> = m
        .tensors
        .iter()
        .map(|t| {
            let offset = match &t.data {
                Bytes::Mapped { range, .. } => json!(range.start),
                Bytes::Owned(_) | Bytes::Shared { .. } | Bytes::Scratch { .. } => serde_json::Value::Null,
            };
            json!({ "name": t.name, "dtype": t.dtype, "shape": t.shape, "bytes": t.data.len(), "offset": offset })
        })
        .collect();
    json!({
        "file": m.path,
        "file_size": m.file_size,
        "source": m.source,
        "version": m.version.as_str(),
        "hparams": m.hparams,
        "n_params": m.n_params(),
        "tokenizer": tokenizer(m),
        "dtypes": dtypes,
        "tensors": tensors,
    })
}

/// Which tokenizer the model uses and why: the file's own, or its vocabulary size; or the reason
/// none is known.
fn tokenizer(m: &Model) -> String {
    use convert::vocab::SourceVocab;
    match (&m.vocab, m.tokenizer()) {
        (SourceVocab::Known(v), _) => format!("{} (the file's own)", v.name()),
        (_, Ok(v)) => format!("{} (by vocabulary size)", v.name()),
        (_, Err(e)) => format!("unknown: {}", e.message),
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn table(m: &Model) -> String {
    let mut s = String::new();
    let h = &m.hparams;
    let source = match &m.source {
        convert::model::Source::TorchZip { prefix } => format!("torch zip, folder '{prefix}'"),
        convert::model::Source::TorchLegacy => "torch legacy (pre-1.6) stream".to_string(),
        convert::model::Source::Gguf { arch } if convert::arch::gguf::llama_cpp_loads(m.version) => {
            format!("GGUF, architecture '{arch}'")
        }
        convert::model::Source::Hf { model_type } => format!("HF folder, model_type '{model_type}'"),
        convert::model::Source::Gguf { arch } => {
            format!("GGUF, architecture '{arch}': rwkv-convert's own layout, which llama.cpp does not load")
        }
    };
    let _ = writeln!(s, "file        {} ({}, {source})", m.path.display(), human_bytes(m.file_size));
    let variant = if h.deep_embed.is_some() { " (DeepEmbed)" } else { "" };
    let _ = writeln!(s, "version     {}{variant}", m.version);
    let mut shape = format!(
        "layers {}, embd {}, vocab {}, att {}, ffn {}",
        h.n_layer, h.n_embd, h.vocab_size, h.dim_att, h.dim_ffn
    );
    if let (Some(nh), Some(hs)) = (h.n_head, h.head_size) {
        shape += &format!(", heads {nh} × {hs}");
    }
    let _ = writeln!(s, "shape       {shape}");
    let ranks: Vec<String> = [
        ("token-shift", h.time_mix_extra_dim),
        ("decay", h.time_decay_extra_dim.or(h.decay_lora)),
        ("a", h.a_lora),
        ("v", h.v_lora),
        ("gate", h.gate_lora),
    ]
    .iter()
    .filter_map(|(n, r)| r.map(|r| format!("{n} {r}")))
    .collect();
    if !ranks.is_empty() {
        let _ = writeln!(s, "lora ranks  {}", ranks.join(", "));
    }
    if let Some(de) = h.deep_embed {
        let _ = writeln!(s, "deepembed   table {} per token, rank {}", de.table_dim, de.rank);
    }
    let _ = writeln!(s, "tokenizer   {}", tokenizer(m));
    let _ = writeln!(s, "params      {} ({:.2} M)", m.n_params(), m.n_params() as f64 / 1e6);
    let dtypes: Vec<String> =
        m.dtype_summary().into_iter().map(|(d, (n, b))| format!("{d}: {n} tensors, {}", human_bytes(b))).collect();
    let _ = writeln!(s, "dtypes      {}", dtypes.join("; "));
    s.push('\n');
    let width = m.tensors.iter().map(|t| t.name.len()).max().unwrap_or(4);
    let _ = writeln!(s, "{:<width$}  {:<5}  shape", "tensor", "dtype");
    for t in &m.tensors {
        let _ = writeln!(s, "{:<width$}  {:<5}  {}", t.name, t.dtype.name(), t.shape_string());
    }
    s
}

fn run_raw(args: &Args) -> Result<()> {
    let ckpt = TorchCheckpoint::open(&args.file)?;
    if args.json {
        let tensors: Vec<serde_json::Value> =
            ckpt.tensors.iter().map(|t| json!({ "name": t.name, "dtype": t.dtype, "shape": t.shape })).collect();
        out(&(serde_json::to_string_pretty(&json!({ "file": ckpt.path, "tensors": tensors }))? + "\n"));
    } else {
        let mut s = String::new();
        for t in &ckpt.tensors {
            let _ = writeln!(s, "{}  {}  {}", t.name, t.dtype.name(), t.shape_string());
        }
        out(&s);
    }
    Ok(())
}

/// A GGUF file: its metadata and tensor records as stored, then the model read from it.
fn run_gguf(args: &Args) -> Result<()> {
    let file = convert::gguf::GgufFile::open(&args.file)?;
    let model = Model::from_gguf(&file);
    if args.json {
        let kv: serde_json::Map<String, serde_json::Value> =
            file.kv.iter().map(|(k, v)| (k.clone(), json!(v.describe()))).collect();
        let tensors: Vec<serde_json::Value> = file
            .tensors
            .iter()
            .map(|t| json!({ "name": t.name, "type": t.ty.name(), "shape": t.shape(), "offset": t.range.start, "bytes": t.range.len() }))
            .collect();
        let mut v = json!({ "file": file.path, "gguf_version": file.version, "metadata": kv, "tensors": tensors });
        match &model {
            Ok(m) => v["model"] = to_json(m),
            Err(e) => v["model_error"] = json!(e.to_string()),
        }
        out(&(serde_json::to_string_pretty(&v)? + "\n"));
        return Ok(());
    }
    let mut s = String::new();
    if let Ok(m) = &model {
        let t = table(m);
        // The model summary without its BlinkDL tensor table (the GGUF table follows).
        s += t.split("\n\n").next().unwrap_or("");
        s += "\n\n";
    }
    let _ = writeln!(
        s,
        "GGUF v{}, {} keys, {} tensors, alignment {}",
        file.version,
        file.kv.len(),
        file.tensors.len(),
        file.alignment
    );
    let kw = file.kv.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &file.kv {
        let _ = writeln!(s, "  {k:<kw$}  {}", v.describe());
    }
    s.push('\n');
    let nw = file.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &file.tensors {
        let _ = writeln!(s, "{:<nw$}  {:<7}  {:?}", t.name, t.ty.name(), t.shape());
    }
    out(&s);
    model.map(|_| ()).map_err(Into::into)
}
