//! Quantization throughput per type, 1 thread and all threads, on a raw f32 matrix (run through
//! bench/quantize_bench.py, which times ggml's own quantizer on the same file in the same run):
//!
//!     cargo bench --bench quantize -- MATRIX.f32 ROWS COLS [TYPE ...] [--imatrix WEIGHTS.f32]
//!
//! A type named TYPE+imatrix is quantized with the importance weights of WEIGHTS.f32 (COLS raw
//! f32, the same for every row), as ggml requires for IQ2_XXS, IQ2_XS and IQ1_S.
//!
//! Prints one JSON object: million values per second per type and thread count.

use quantize::GgmlType;
use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let imatrix: Option<Vec<f32>> = args.iter().position(|a| a == "--imatrix").map(|i| {
        let bytes = std::fs::read(&args[i + 1]).expect("imatrix file");
        args.drain(i..i + 2);
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    });
    let (Some(path), Some(rows), Some(cols)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: cargo bench --bench quantize -- MATRIX.f32 ROWS COLS [TYPE ...] [--imatrix WEIGHTS.f32]");
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
        let (ty_name, weighted) = name.strip_suffix("+imatrix").map_or((name.as_str(), false), |t| (t, true));
        let ty = GgmlType::from_name(ty_name).expect("type");
        let qw = weighted.then(|| imatrix.as_deref().expect("--imatrix for a +imatrix type"));
        if let Some(qw) = qw {
            assert_eq!(qw.len(), cols, "one importance weight per column");
        }
        let quantize_rows = |c: &[f32], o: &mut [u8]| match qw {
            Some(qw) => {
                let row_bytes = ty.row_bytes(cols).expect("whole blocks");
                for (row, o) in c.chunks_exact(cols).zip(o.chunks_exact_mut(row_bytes)) {
                    o.copy_from_slice(&quantize::codec::quantize_row_weighted(ty, row, qw).expect("quantize"));
                }
            }
            None => quantize::codec::quantize_into(ty, c, o).expect("quantize"),
        };
        quantize_rows(&x[..cols], &mut vec![0u8; ty.row_bytes(cols).expect("whole blocks")]);
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
                            .for_each(|(o, c)| quantize_rows(c, o));
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
