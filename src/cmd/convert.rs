//! `rwkv-convert convert MODEL --to gguf OUT.gguf [--outtype f32|f16|bf16]`

use anyhow::{bail, Result};
use convert::gguf::export::{plan, write_base, OutType};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The source: a `.pth` checkpoint or a GGUF file.
    pub model: PathBuf,
    /// The target format: `gguf` (a file) or `hf` (a folder: transformers / RWKV org / fla layout).
    #[arg(long, value_parser = ["gguf", "hf"])]
    pub to: String,
    /// The output file (gguf) or folder (hf).
    pub out: PathBuf,
    /// hf: tensor dtype (`keep` keeps each tensor's own).
    #[arg(long, default_value = "keep")]
    pub dtype: String,
    /// hf: shard past this size (e.g. 2GB, 500MB; decimal units as the hub counts them).
    #[arg(long, default_value = "2GB")]
    pub max_shard_size: String,
    /// hf, RWKV-4: `context_length` in config.json (default 1024, as the RWKV/rwkv-4-*-pile
    /// folders say; transformers only sizes its CUDA kernel with it).
    #[arg(long)]
    pub ctx_len: Option<usize>,
    /// hf: a folder of the target's remote code (*.py) to copy in (rwkv-convert ships none).
    #[arg(long)]
    pub remote_code_dir: Option<PathBuf>,
    /// f32, f16 or bf16 for the weight matrices (norms, mixes and LoRAs stay F32 as llama.cpp's
    /// converter keeps them), or a llama-quantize type (Q8_0, Q6_K, Q4_K_M, IQ3_M, ...).
    #[arg(long, default_value = "bf16")]
    pub outtype: String,
    /// `general.name` (default: the output file's stem).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub model_args: super::ModelArgs,
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = [("GB", 1_000_000_000u64), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((s.clone(), 1));
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

fn run_hf(args: &Args) -> Result<()> {
    use convert::hf::{write_folder, HfDtype, HfOptions};
    let Some(dtype) = HfDtype::parse(&args.dtype) else {
        bail!("--dtype {} is not one of keep, f32, f16, bf16", args.dtype)
    };
    let Some(max_shard_bytes) = parse_size(&args.max_shard_size) else {
        bail!("cannot read --max-shard-size {}", args.max_shard_size)
    };
    if args.out.join("config.json").exists() && !args.force {
        bail!("{} already holds a model; pass --force to overwrite it", args.out.display());
    }
    let model = args.model_args.open(&args.model)?;
    super::note_states_not_written(&model);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} tensors [{elapsed_precise}]").expect("template"),
    );
    bar.set_message(format!("writing {}", args.out.display()));
    let opts = HfOptions {
        dtype,
        max_shard_bytes,
        force: args.force,
        remote_code_dir: args.remote_code_dir.clone(),
        context_length: args.ctx_len,
    };
    let files = write_folder(&model, &args.out, &opts, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    if let Err(e) = model.tokenizer() {
        eprintln!("note: no tokenizer files were written: {e}");
    }
    eprintln!("wrote {} files to {}", files.len(), args.out.display());
    Ok(())
}

/// `--outtype` of a quantized file type: a 16/32-bit GGUF in the source's own float type first
/// (what llama.cpp's converter would write), then `quantize` on it, as llama-quantize would.
fn run_quantized(args: &Args, ftype: quantize::ftype::FileType) -> Result<()> {
    super::check_output(&args.out, args.force)?;
    let model = args.model_args.open(&args.model)?;
    super::note_states_not_written(&model);
    let name =
        args.name.clone().unwrap_or_else(|| args.out.file_stem().unwrap_or_default().to_string_lossy().into_owned());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} tensors [{elapsed_precise}]").expect("template"),
    );
    bar.set_message("float GGUF");
    let dir = args.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let result = write_base(&model, dir, &name, |n| bar.set_length(n as u64), |i| bar.set_position(i as u64 + 1))
        .map_err(anyhow::Error::from)
        .and_then(|tmp| {
            let f = convert::gguf::GgufFile::open(tmp.path())?;
            bar.set_position(0);
            bar.set_message(format!("{} → {}", ftype.name(), args.out.display()));
            convert::gguf::requantize::write(&f, &args.out, ftype, &Default::default(), args.force, |i| {
                bar.set_position(i as u64 + 1)
            })?;
            Ok(())
        });
    bar.finish_and_clear();
    result?;
    eprintln!("wrote {} ({})", args.out.display(), ftype.name());
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    if args.to == "hf" {
        return run_hf(&args);
    }
    let Some(outtype) = OutType::parse(&args.outtype) else {
        if let Some(ftype) = quantize::ftype::FileType::parse(&args.outtype) {
            return run_quantized(&args, ftype);
        }
        bail!(
            "--outtype {} is neither f32, f16, bf16 nor a llama-quantize type (Q8_0, Q4_K_M, IQ3_M, ...)",
            args.outtype
        );
    };
    super::check_output(&args.out, args.force)?;
    let model = args.model_args.open(&args.model)?;
    super::note_states_not_written(&model);
    let name =
        args.name.clone().unwrap_or_else(|| args.out.file_stem().unwrap_or_default().to_string_lossy().into_owned());
    let (writer, tensors) = plan(&model, outtype, &name)?;
    let bar = ProgressBar::new(tensors.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} tensors [{elapsed_precise}]").expect("template"),
    );
    bar.set_message(format!("writing {}", args.out.display()));
    writer.write(&args.out, args.force, &tensors, |i| bar.set_position(i as u64 + 1))?;
    bar.finish_and_clear();
    if !convert::arch::gguf::llama_cpp_loads(model.version) {
        eprintln!(
            "note: {} is written in rwkv-convert's own '{}' layout (docs/gguf-rwkv4-rwkv5.md); llama.cpp does not load it",
            model.version,
            convert::arch::gguf::arch_name(model.version)
        );
    }
    eprintln!("wrote {} ({} tensors)", args.out.display(), tensors.len());
    Ok(())
}
