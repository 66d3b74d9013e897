#!/usr/bin/env python3
"""Benchmark: `rwkv-convert inspect` reads no tensor data, so its time and peak memory stay flat as
the checkpoint grows.

Generates RWKV-7 checkpoints of growing size with torch (bench/make_v7_model.py: random weights,
bf16, released layout), then runs `rwkv-convert inspect --json` on each: best wall time of 7 runs
and the peak resident memory of the process (each run in a fresh child, ru_maxrss).

    python3 bench/inspect_bench.py                 # needs cargo and torch (golden/requirements.txt)
    BENCH_DIR=/big/disk python3 bench/inspect_bench.py
"""
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")
# layers, embd, vocab: 191M (12 x 768, the shape) up to 2.9B parameters
SHAPES = [(12, 768, 65536), (24, 1024, 65536), (24, 2048, 65536), (32, 2560, 65536)]


def run_once(binary, path):
    """Wall seconds and peak RSS (KiB) of one inspect run in its own child process."""
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execv(binary, [binary, "inspect", "--json", path])
    t0 = time.perf_counter()
    _, status, usage = os.wait4(pid, 0)
    secs = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"inspect failed on {path}")
    return secs, usage.ru_maxrss


def main():
    os.makedirs(DIR, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "rwkv-convert")
    print(f"{'model':<28}{'params':>14}{'file MiB':>11}{'best ms':>10}{'peak RSS MiB':>14}")
    for layers, embd, vocab in SHAPES:
        path = os.path.join(DIR, f"v7-L{layers}-C{embd}-V{vocab}-bf16.pth")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_v7_model.py"), "--layers", str(layers),
                            "--embd", str(embd), "--vocab", str(vocab), "--dtype", "bf16", "--out", path],
                           check=True, stdout=subprocess.DEVNULL)
        info = json.loads(subprocess.run([binary, "inspect", "--json", path], check=True,
                                         capture_output=True, text=True).stdout)
        runs = [run_once(binary, path) for _ in range(7)]
        best = min(s for s, _ in runs)
        rss = max(r for _, r in runs)
        print(f"{os.path.basename(path)[:-4]:<28}{info['n_params']:>14,}{os.path.getsize(path) / 2**20:>11.1f}"
              f"{best * 1000:>10.2f}{rss / 1024:>14.1f}")


if __name__ == "__main__":
    main()
