//! The engine's dot kernels alone: one thread, every row of a matrix against one input (a GEMV),
//! per stored type, on a matrix that fits in L2 and on one that streams from memory.
//!
//!     cargo bench --bench dots                      # the widest forms this CPU has
//!     RWKV_MAX_ISA=avx2 cargo bench --bench dots    # the AVX2 forms, for comparison
//!     DOTS_K=768 cargo bench --bench dots           # rows 768 wide (the 191M shape), not 4096
//!
//! Prints, per type: giga-weights per second and GB/s of stored bytes read, and the plain
//! (dequantize-the-row) form's speed on the small matrix for reference.

use quantize::GgmlType;
use reference::kernels::{self, Float};
use reference::qkernels::{self, BlockInput};
use std::time::Instant;

fn best(reps: usize, mut f: impl FnMut() -> f32) -> f64 {
    let mut t = f64::INFINITY;
    for _ in 0..reps {
        let s = Instant::now();
        std::hint::black_box(f());
        t = t.min(s.elapsed().as_secs_f64());
    }
    t
}

enum Stored {
    Float(Float),
    Quant(GgmlType),
}

fn main() {
    let k: usize = std::env::var("DOTS_K").ok().and_then(|v| v.parse().ok()).unwrap_or(4096);
    let x: Vec<f32> = (0..k).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
    let input = BlockInput::new(&x);
    println!(
        "isa: q4_K {}, q8_0 {}, bf16 {}",
        qkernels::isa(GgmlType::Q4K),
        qkernels::isa(GgmlType::Q8_0),
        kernels::isa(Float::BF16)
    );
    println!("{:8} {:>6} {:>12} {:>9} {:>14}", "type", "rows", "Gweights/s", "GB/s", "plain Gw/s");
    let types = [
        Stored::Float(Float::F32),
        Stored::Float(Float::BF16),
        Stored::Float(Float::F16),
        Stored::Quant(GgmlType::Q8_0),
        Stored::Quant(GgmlType::Q4_0),
        Stored::Quant(GgmlType::Q4K),
        Stored::Quant(GgmlType::Q6K),
        Stored::Quant(GgmlType::Q5K),
    ];
    for st in &types {
        // 256 rows stay in L2; 16384 rows (64-128 MiB as f32 or bf16) stream from memory.
        for rows in [256usize, 16384] {
            let row: Vec<f32> = (0..k).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2).collect();
            let (name, row_bytes, bytes): (String, usize, Vec<u8>) = match st {
                Stored::Float(ty) => {
                    let one: Vec<u8> = match ty {
                        Float::F32 => row.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        Float::BF16 => row.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
                        Float::F16 => row.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
                    };
                    (format!("{ty:?}").to_lowercase(), one.len(), one.repeat(rows))
                }
                Stored::Quant(ty) => {
                    let one = quantize::codec::quantize(*ty, &row).expect("quantize");
                    (ty.to_string(), one.len(), one.repeat(rows))
                }
            };
            let dot = |r: &[u8]| match st {
                Stored::Float(ty) => kernels::dot(*ty, r, &x),
                Stored::Quant(ty) => qkernels::dot_quant(*ty, r, &input),
            };
            let reps = if rows == 256 { 200 } else { 10 };
            let t = best(reps, || bytes.chunks(row_bytes).map(dot).sum());
            let plain = (rows == 256).then(|| match st {
                Stored::Float(ty) => best(20, || bytes.chunks(row_bytes).map(|r| kernels::dot_plain(*ty, r, &x)).sum()),
                Stored::Quant(ty) => {
                    best(20, || bytes.chunks(row_bytes).map(|r| qkernels::dot_quant_plain(*ty, r, &x)).sum())
                }
            });
            let w = (rows * k) as f64;
            println!(
                "{:8} {:>6} {:>12.2} {:>9.2} {:>14}",
                name,
                rows,
                w / t / 1e9,
                bytes.len() as f64 / t / 1e9,
                plain.map_or(String::new(), |p| format!("{:.2}", w / p / 1e9))
            );
        }
    }
}
