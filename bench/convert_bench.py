#!/usr/bin/env python3
"""Conversion benchmark: `.pth` → GGUF, → HF folder (and, when given, → quantized GGUF) on the 191M-parameter
RWKV-7 shape (12 x 768, vocab 65536, bf16), against copying the same bytes with `cp`.

    python3 bench/convert_bench.py [--outtype bf16] [--quantize Q8_0 ...]

Prints wall time (best of 7) and peak resident memory (ru_maxrss of the child) for `cp` and for
each rwkv-convert command, and the largest tensor's size, which bounds what must be in memory.
The model is made with `rwkv-convert synth` (seeded random weights): no Python packages needed.
"""
import argparse
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")


def run(cmd):
    """Best wall seconds of 7 runs and the peak RSS (MiB) seen."""
    best, rss = float("inf"), 0
    for _ in range(7):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execvp(cmd[0], cmd)
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        best = min(best, time.perf_counter() - t)
        rss = max(rss, usage.ru_maxrss / 1024)
    return best, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outtype", default="bf16")
    ap.add_argument("--quantize", nargs="*", default=[])
    args = ap.parse_args()
    os.makedirs(DIR, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "rwkv-convert")
    src = os.path.join(DIR, "synth-v7-L12-C768-V65536-bf16.pth")
    if not os.path.exists(src):
        subprocess.run([binary, "synth", src, "--layers", "12", "--embd", "768", "--vocab", "65536"], check=True)
    largest = 65536 * 768 * 2 / 2**20
    size = os.path.getsize(src) / 2**20
    rows = []
    cp_t, cp_rss = run(["cp", src, os.path.join(DIR, "copy.pth")])
    rows.append(("cp (same bytes)", cp_t, cp_rss))
    # rwkv-convert fsyncs every output before renaming it into place; cp does not.
    copy = os.path.join(DIR, "copy.pth")
    sync_t, sync_rss = run(["sh", "-c", f"cp '{src}' '{copy}' && sync '{copy}'"])
    rows.append(("cp + sync (same durability)", sync_t, sync_rss))
    gguf = os.path.join(DIR, f"synth-{args.outtype}.gguf")
    t, rss = run([binary, "convert", src, "--to", "gguf", gguf, "--outtype", args.outtype, "--force"])
    rows.append((f"convert --to gguf --outtype {args.outtype}", t, rss))
    hf = os.path.join(DIR, "synth-hf")
    t, rss = run([binary, "convert", src, "--to", "hf", hf, "--force"])
    rows.append(("convert --to hf (keep bf16)", t, rss))
    for q in args.quantize:
        t, rss = run([binary, "quantize", gguf, os.path.join(DIR, f"synth-{q}.gguf"), q, "--force"])
        rows.append((f"quantize {q}", t, rss))
    print(f"source {src}: {size:.1f} MiB; largest tensor (emb/head, bf16) {largest:.1f} MiB; "
          f"memory bound = largest + 64 MiB = {largest + 64:.1f} MiB")
    print(f"{'command':<40}{'wall s':>9}{'x cp':>7}{'x cp+sync':>10}{'peak RSS MiB':>14}")
    for name, t, rss in rows:
        print(f"{name:<40}{t:>9.2f}{t / cp_t:>7.2f}{t / sync_t:>10.2f}{rss:>14.1f}")


if __name__ == "__main__":
    main()
