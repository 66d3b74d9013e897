//! Engine throughput on one checkpoint (run through bench/engine_bench.py, which adds the
//! official package's figures for the same file):
//!
//!     cargo bench --bench engine -- MODEL.pth [--prefill 512] [--decode 64]
//!
//! Prints one JSON object: prefill tokens/s (sequence mode), the share of prefill spent in the WKV
//! recurrence (fast and plain kernels), decode tokens/s (token mode), decode's weight bandwidth,
//! and this machine's memory bandwidth measured the same way (copy, STREAM convention, and read).

use convert::Model;
use rayon::prelude::*;
use reference::{Engine, Kernel, Options};
use std::time::Instant;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % (vocab - 1) + 1) as u32).collect()
}

/// Best of `reps` runs of `f`, in seconds.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Memory bandwidth with all threads: copy (bytes read + written per second, as STREAM counts
/// them) and read (a sum over the buffer), on 1 GiB.
static ONES: [f32; 1 << 16] = [1.0; 1 << 16];

fn memory_bandwidth() -> (f64, f64) {
    let n = 1usize << 28; // 2^28 f32 = 1 GiB
    let src: Vec<f32> = (0..n).into_par_iter().map(|i| i as f32).collect();
    let mut dst = vec![0f32; n];
    let chunk = 1 << 16;
    let copy = best(5, || {
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
    });
    let mut sink = 0f32;
    let read = best(5, || {
        // 16 partial sums per chunk so the loop is bandwidth-bound, not add-latency-bound.
        sink += src.par_chunks(chunk).map(|c| reference::kernels::dot_f32(c, &ONES[..c.len()])).sum::<f32>();
    });
    std::hint::black_box((sink, &dst));
    let bytes = (n * 4) as f64;
    (2.0 * bytes / copy / 1e9, bytes / read / 1e9)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.iter().skip(1).find(|a| a.ends_with(".pth")) else {
        eprintln!("usage: cargo bench --bench engine -- MODEL.pth [--prefill 512] [--decode 64]");
        return;
    };
    let (t_prefill, t_decode) = (arg(&args, "--prefill", 512), arg(&args, "--decode", 64));
    let model = Model::open(path.as_ref()).expect("model");
    let load = Instant::now();
    let mut engine = Engine::load(&model, &Options::default()).expect("engine");
    let load_s = load.elapsed().as_secs_f64();
    let vocab = engine.vocab();
    let prompt = tokens(t_prefill, vocab);

    // Prefill: one sequence-mode call, logits for the last position only (as generation needs).
    let prefill_with = |engine: &Engine| {
        best(3, || {
            let mut s = engine.new_state();
            let h = engine.hidden(&prompt, &mut s);
            std::hint::black_box(engine.head(h.slice(ndarray::s![h.nrows() - 1.., ..])));
        })
    };
    let prefill = prefill_with(&engine);
    engine.set_kernel(Kernel::Plain);
    let prefill_plain = prefill_with(&engine);
    engine.set_kernel(Kernel::Fast);

    // The v7 recurrence alone for the same T, all layers (random inputs of the model's shape).
    let (wkv_fast, wkv_plain) = match (&model.hparams.head_size, &model.hparams.n_head, model.version) {
        (Some(n), Some(h), convert::arch::Version::V7) => {
            let (n, c, layers) = (*n, n * h, model.hparams.n_layer);
            let len = t_prefill * c;
            let x: Vec<f32> = (0..len).map(|i| ((i * 2654435761) % 1000) as f32 / 1000.0 - 0.5).collect();
            let w: Vec<f32> = x.iter().map(|v| 0.8 + 0.2 * v).collect();
            let mut y = vec![0f32; len];
            let mut s = vec![0f32; h * n * n];
            let time = |f: &dyn Fn(&mut [f32], &mut [f32])| {
                best(3, || {
                    for _ in 0..layers {
                        f(&mut s.clone(), &mut y.clone())
                    }
                })
            };
            let fast = time(&|s, y| reference::wkv::v7::fast(n, &x, &w, &x, &x, &x, &x, s, y));
            let plain = time(&|s, y| reference::wkv::v7::plain(n, &x, &w, &x, &x, &x, &x, s, y));
            std::hint::black_box((&mut y, &mut s));
            (Some(fast), Some(plain))
        }
        _ => (None, None),
    };

    // Decode: token mode with full logits each step.
    let mut state = engine.new_state();
    engine.hidden(&prompt[..16], &mut state);
    let steps = tokens(t_decode, vocab);
    let decode = best(2, || {
        let mut s = state.clone();
        for &t in &steps {
            std::hint::black_box(engine.logits_seq(&[t], &mut s));
        }
    }) / t_decode as f64;

    // The largest single GEMV, alone: the head.
    let h1 = ndarray::Array2::<f32>::ones((1, model.hparams.n_embd));
    let head_gemv = best(20, || {
        std::hint::black_box(engine.head(h1.view()));
    });
    let head_bytes = 4.0 * (model.hparams.vocab_size * model.hparams.n_embd) as f64;

    // Bytes of weights read per decoded token: every tensor but the embedding table (one row).
    let emb = model.get("emb.weight").map(|t| t.numel()).unwrap_or(0);
    let weight_bytes = 4.0 * (model.n_params() as f64 - emb as f64);
    let (copy_gbs, read_gbs) = memory_bandwidth();
    let decode_gbs = weight_bytes / decode / 1e9;
    let out = serde_json::json!({
        "model": path,
        "params": model.n_params(),
        "threads": rayon::current_num_threads(),
        "load_seconds": load_s,
        "prefill_tokens": t_prefill,
        "prefill_tokens_per_second": t_prefill as f64 / prefill,
        "prefill_plain_kernel_tokens_per_second": t_prefill as f64 / prefill_plain,
        "prefill_seconds": prefill,
        "wkv_fast_seconds_all_layers": wkv_fast,
        "wkv_plain_seconds_all_layers": wkv_plain,
        "wkv_fast_share_of_prefill": wkv_fast.map(|w| w / prefill),
        "decode_tokens_per_second": 1.0 / decode,
        "decode_weight_bytes_per_token": weight_bytes,
        "decode_weight_gb_per_second": decode_gbs,
        "head_gemv_gb_per_second": head_bytes / head_gemv / 1e9,
        "memory_copy_gb_per_second": copy_gbs,
        "memory_read_gb_per_second": read_gbs,
        "decode_share_of_copy_bandwidth": decode_gbs / copy_gbs,
        "decode_share_of_read_bandwidth": decode_gbs / read_gbs,
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
}
