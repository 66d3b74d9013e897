//! Quantization throughput per type, 1 thread and all threads, on a raw f32 matrix (run through
//! bench/quantize_bench.py, which times ggml's own quantizer on the same file in the same run):
//!
//!     cargo bench --bench quantize -- MATRIX.f32 ROWS COLS [TYPE ...]
//!
//! Prints one JSON object: million values per second per type and thread count.

use quantize::{quantize, GgmlType};
use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (Some(path), Some(rows), Some(cols)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: cargo bench --bench quantize -- MATRIX.f32 ROWS COLS [TYPE ...]");
        return;
    };
    let (rows, cols): (usize, usize) = (rows.parse().expect("rows"), cols.parse().expect("cols"));
    let bytes = std::fs::read(path).expect("matrix file");
    let x: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(x.len(), rows * cols);
    let names: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        ["q8_0", "q4_0", "q5_0", "iq4_nl", "q4_K", "q6_K", "iq3_xxs", "iq3_s"].iter().map(|s| s.to_string()).collect()
    };
    let mut out = serde_json::Map::new();
    for name in names {
        let ty = GgmlType::from_name(&name).expect("type");
        quantize(ty, &x[..cols]).expect("warm-up (and IQ3 grid set-up)");
        let mut dst = vec![0u8; ty.row_bytes(cols).expect("whole blocks") * rows];
        let mut rec = serde_json::Map::new();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let best = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    // Into one preallocated buffer, as ggml_quantize_chunk writes its dst.
                    let per_rows = (16384 / cols).max(1);
                    let row_bytes = ty.row_bytes(cols).expect("whole blocks");
                    pool.install(|| {
                        dst.par_chunks_mut(per_rows * row_bytes)
                            .zip(x.par_chunks(per_rows * cols))
                            .for_each(|(o, c)| quantize::codec::quantize_into(ty, c, o).expect("quantize"));
                    });
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            rec.insert(format!("threads_{threads}_mvals_per_s"), serde_json::json!(x.len() as f64 / best / 1e6));
        }
        out.insert(name, serde_json::Value::Object(rec));
    }
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
}
