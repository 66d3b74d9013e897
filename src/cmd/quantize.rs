//! `rwkv-convert quantize IN.gguf OUT.gguf TYPE`: llama-quantize's file types, bit for bit.

use super::out;
use anyhow::{bail, Result};
use convert::gguf::requantize;
use convert::gguf::GgufFile;
use indicatif::{ProgressBar, ProgressStyle};
use quantize::ftype::{FileType, Overrides};
use quantize::GgmlType;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pub input: PathBuf,
    pub output: PathBuf,
    /// A llama-quantize file type: F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q4_K_M (Q4_K), Q4_K_S, Q4_0, IQ4_NL.
    #[arg(value_name = "TYPE")]
    pub ftype: String,
    /// Type of `output.weight` (e.g. bf16 for a "bf16-q8_0" file).
    #[arg(long)]
    pub output_tensor_type: Option<String>,
    /// Type of `token_embd.weight`.
    #[arg(long)]
    pub token_embedding_type: Option<String>,
    /// An importance matrix from llama.cpp's `llama-imatrix` (GGUF or legacy `.dat`).
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// No mix rules: every quantizable tensor gets the file type's default type.
    #[arg(long)]
    pub pure: bool,
    #[arg(long)]
    pub force: bool,
    /// Print the per-tensor types as JSON.
    #[arg(long)]
    pub json: bool,
}

fn ggml_type(s: &Option<String>) -> Result<Option<GgmlType>> {
    match s {
        None => Ok(None),
        Some(s) => match GgmlType::from_name(s) {
            Some(t) => Ok(Some(t)),
            None => bail!("unknown tensor type {s}"),
        },
    }
}

pub fn run(args: Args) -> Result<()> {
    let Some(ftype) = FileType::parse(&args.ftype) else {
        let names: Vec<&str> = FileType::all().map(FileType::name).collect();
        bail!("unknown file type {}; one of {}", args.ftype, names.join(", "));
    };
    super::check_output(&args.output, args.force)?;
    let overrides = Overrides {
        output: ggml_type(&args.output_tensor_type)?,
        token_embedding: ggml_type(&args.token_embedding_type)?,
        pure: args.pure,
    };
    let file = GgufFile::open(&args.input)?;
    let bar = ProgressBar::new(file.tensors.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} tensors [{elapsed_precise}, eta {eta}]")
            .expect("template"),
    );
    bar.set_message(format!("{} → {}", ftype.name(), args.output.display()));
    let imatrix = args.imatrix.as_deref().map(convert::gguf::imatrix::Imatrix::load).transpose()?;
    let types = requantize::write_with(&file, &args.output, ftype, &overrides, imatrix.as_ref(), args.force, |i| {
        bar.set_position(i as u64 + 1)
    })?;
    bar.finish_and_clear();
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> =
            types.iter().map(|(n, t)| (n.clone(), serde_json::json!(t.name()))).collect();
        out(&(serde_json::to_string_pretty(&map)? + "\n"));
    }
    eprintln!("wrote {} ({})", args.output.display(), ftype.name());
    Ok(())
}
