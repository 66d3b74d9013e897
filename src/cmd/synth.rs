//! `rwkv-convert synth OUT.pth`: a synthetic RWKV-7 checkpoint with seeded random weights (for
//! testing pipelines and benchmarks at real shapes; the values mean nothing).

use anyhow::{bail, Result};
use convert::arch::Version;
use convert::DType;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    pub out: PathBuf,
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    #[arg(long, default_value_t = 768)]
    pub embd: usize,
    #[arg(long, default_value_t = 65536)]
    pub vocab: usize,
    #[arg(long, default_value = "bf16", value_parser = ["bf16", "f16", "f32"])]
    pub dtype: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    super::check_output(&args.out, args.force)?;
    if args.embd % 64 != 0 || args.embd == 0 {
        bail!("--embd must be a multiple of the head size 64");
    }
    let dtype = match args.dtype.as_str() {
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        _ => DType::F32,
    };
    let hp = convert::synth::v7_hparams(args.layers, args.embd, args.vocab);
    convert::synth::save(&args.out, Version::V7, &hp, dtype, args.seed)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
