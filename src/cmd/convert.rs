//! `rwkv-convert convert MODEL --to gguf OUT.gguf [--outtype f32|f16|bf16]`

use anyhow::{bail, Result};
use convert::gguf::export::{plan, OutType};
use convert::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The source: a `.pth` checkpoint or a GGUF file.
    pub model: PathBuf,
    /// The target format.
    #[arg(long, value_parser = ["gguf"])]
    pub to: String,
    /// The output file.
    pub out: PathBuf,
    /// Tensor type of the weight matrices (norms, mixes and LoRAs stay F32 as llama.cpp's converter keeps them).
    #[arg(long, default_value = "bf16")]
    pub outtype: String,
    /// `general.name` (default: the output file's stem).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Some(outtype) = OutType::parse(&args.outtype) else {
        bail!("--outtype {} is not one of f32, f16, bf16", args.outtype);
    };
    super::check_output(&args.out, args.force)?;
    let model = Model::open(&args.model)?;
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
