#!/usr/bin/env python3
"""The reference engine beside llama.cpp, in one run, on the 191M RWKV-7 shape (12 x 768, V 65536).

    python3 bench/engine_vs_llamacpp.py [--threads 2] [--prefill 512] [--decode 64] [--rounds 5]

Ours: `rwkv-convert bench FILE --json` on the bf16 `.pth` and on our Q8_0 and Q4_K_M GGUFs.
llama.cpp: llama-cpp-python 0.3.36 (the build golden/gguf/README.md describes) through its API on
the F32, BF16, Q8_0 and Q4_K_M GGUFs of the same weights (our converter writes llama.cpp's bytes;
the quantized files are the same bytes llama-quantize writes): prefill = one `eval` of T tokens
with the logits of the last only; decode = `eval` of one token at a time. Best of 3 each.

The host this was written on is shared and drifts by ±15% within minutes, for both sides at once.
So the runs go in rounds, ours and llama.cpp's of the same comparison back to back in each, and
every ratio is the median over the rounds of that round's ratio; the figures printed are medians.
Prints both sides' figures, the ratios the engine issue targets, and each side's instruction set.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")
BIN = os.path.join(ROOT, "target", "release", "rwkv-convert")


def sh(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def tokens(n, vocab=65536):
    return [((i * 7919 + 13) % (vocab - 1) + 1) for i in range(n)]


def llama(path, threads, t_prefill, t_decode):
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=max(1024, t_prefill + t_decode), n_batch=t_prefill, n_ubatch=t_prefill,
                n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
    toks = tokens(t_prefill)

    def best(f):
        out = []
        for _ in range(3):
            llm.reset()
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
        return min(out)

    prefill = best(lambda: llm.eval(toks))
    steps = tokens(t_decode)

    def decode():
        for t in steps:
            llm.eval([t])

    dec = best(decode)
    return {"prefill_tokens_per_second": t_prefill / prefill, "decode_tokens_per_second": t_decode / dec}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(DIR, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    pth = os.path.join(DIR, "v7-L12-C768-V65536-bf16.pth")
    f = lambda t: os.path.join(DIR, f"v7-191M.{t}.gguf")
    if not os.path.exists(pth):
        sh(BIN, "synth", pth, "--layers", 12, "--embd", 768, "--vocab", 65536)
    for t in ["f32", "bf16"]:
        if not os.path.exists(f(t)):
            sh(BIN, "convert", pth, "--to", "gguf", f(t), "--outtype", t)
    for t in ["Q8_0", "Q4_K_M"]:
        if not os.path.exists(f(t)):
            sh(BIN, "quantize", f("bf16"), f(t), t)

    def ours(path):
        return json.loads(sh(BIN, "--threads", a.threads, "bench", path, "--prefill", a.prefill, "--decode", a.decode,
                             "--json"))

    # Each comparison's two sides back to back, so both meet the same state of the host.
    lla = lambda t: lambda: llama(f(t), a.threads, a.prefill, a.decode)
    runs = {
        "ours bf16 .pth": lambda: ours(pth),
        "llama.cpp F32": lla("f32"),
        "llama.cpp BF16": lla("bf16"),
        "ours Q8_0": lambda: ours(f("Q8_0")),
        "llama.cpp Q8_0": lla("Q8_0"),
        "ours Q4_K_M": lambda: ours(f("Q4_K_M")),
        "llama.cpp Q4_K_M": lla("Q4_K_M"),
    }
    rounds = []
    for i in range(a.rounds):
        rounds.append({name: run() for name, run in runs.items()})
        print(f"round {i + 1} of {a.rounds} done", file=sys.stderr, flush=True)
    med = lambda name, key: statistics.median(r[name][key] for r in rounds)
    rows = {name: dict(rounds[0][name], prefill_tokens_per_second=med(name, "prefill_tokens_per_second"),
                       decode_tokens_per_second=med(name, "decode_tokens_per_second")) for name in runs}
    import llama_cpp
    print(f"191M RWKV-7, {a.threads} threads, prefill {a.prefill} tokens (logits of the last), decode {a.decode}")
    print(f"{'':22} {'prefill tok/s':>14} {'decode tok/s':>13} {'peak RSS MB':>12}  isa")
    for name, r in rows.items():
        rss = r.get("peak_rss_bytes")
        isa = r.get("isa", "")
        print(f"{name:22} {r['prefill_tokens_per_second']:14.1f} {r['decode_tokens_per_second']:13.1f} "
              f"{(rss or 0) / 1e6:12.1f}  {isa}")
    ratio = lambda key, a_, b_: statistics.median(r[a_][key] / r[b_][key] for r in rounds)
    d = lambda x, y: ratio("decode_tokens_per_second", x, y)
    p = lambda x, y: ratio("prefill_tokens_per_second", x, y)
    ratios = {
        "decode bf16 .pth / llama.cpp F32 (target >= 1.5)": d("ours bf16 .pth", "llama.cpp F32"),
        "decode bf16 .pth / llama.cpp BF16 (target >= 1.0)": d("ours bf16 .pth", "llama.cpp BF16"),
        "decode Q8_0 / llama.cpp Q8_0 (target >= 1.0)": d("ours Q8_0", "llama.cpp Q8_0"),
        "decode Q4_K_M / llama.cpp Q4_K_M (target >= 1.0)": d("ours Q4_K_M", "llama.cpp Q4_K_M"),
        "prefill bf16 .pth / llama.cpp F32 (target >= 1.0, stretch 1.3)": p("ours bf16 .pth", "llama.cpp F32"),
    }
    print(f"medians of {a.rounds} rounds")
    for k, v in ratios.items():
        print(f"{v:6.2f}x  {k}")
    print("llama.cpp:", llama_cpp.llama_print_system_info().decode().strip())
    json.dump({"rows": rows, "ratios": ratios, "rounds": rounds}, open(os.path.join(DIR, "engine_vs_llamacpp.json"), "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
