#!/usr/bin/env python3
"""Conversion benchmark: `.pth` → GGUF, → HF folder (and, when given, → quantized GGUF) on a synth
RWKV-7 shape (default the 191M one, 12 x 768, vocab 65536, bf16), against copying the same bytes with
`cp`.

    python3 bench/convert_bench.py [--layers 12 --embd 768] [--outtype bf16] [--quantize Q8_0 ...]
    python3 bench/convert_bench.py --layers 24 --embd 2048     # the 1.5B shape (a 3.06 GB file)

Prints wall time and peak resident memory (ru_maxrss of the child) for `cp` and for each
rwkv-convert command, and the largest tensor's size, which bounds what must be in memory. The
commands run in rounds (--rounds, default 7), one after another in each round, each writing to
paths that do not exist yet (the previous round's outputs are removed first) after a `sync` and a
second's rest, so that all meet the same state of a host whose disk speed drifts; a
command's time is its best over the rounds, and each ratio is the median over the rounds of that
round's ratio.
The model is made with `rwkv-convert synth` (seeded random weights): no Python packages needed.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")


def run(cmd, outputs):
    """Wall seconds and peak RSS (MiB) of one run, to outputs that do not exist yet, from a settled disk."""
    for p in outputs:
        shutil.rmtree(p) if os.path.isdir(p) else os.path.exists(p) and os.remove(p)
    subprocess.run(["sync"], check=True)
    time.sleep(1)
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
    return time.perf_counter() - t, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outtype", default="bf16")
    ap.add_argument("--quantize", nargs="*", default=[])
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    os.makedirs(DIR, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "rwkv-convert")
    src = os.path.join(DIR, f"synth-v7-L{args.layers}-C{args.embd}-V65536-bf16.pth")
    if not os.path.exists(src):
        subprocess.run([binary, "synth", src, "--layers", str(args.layers), "--embd", str(args.embd), "--vocab", "65536"],
                       check=True)
    largest = 65536 * args.embd * 2 / 2**20
    size = os.path.getsize(src) / 2**20
    copy = os.path.join(DIR, "copy.pth")
    gguf = os.path.join(DIR, f"synth-{args.outtype}.gguf")
    hf = os.path.join(DIR, "synth-hf")
    commands = [
        ("cp (same bytes)", ["cp", src, copy], [copy]),
        # rwkv-convert fsyncs every output before renaming it into place; cp does not.
        ("cp + sync (same durability)", ["sh", "-c", f"cp '{src}' '{copy}' && sync '{copy}'"], [copy]),
        (f"convert --to gguf --outtype {args.outtype}",
         [binary, "convert", src, "--to", "gguf", gguf, "--outtype", args.outtype], [gguf]),
        ("convert --to hf (keep bf16)", [binary, "convert", src, "--to", "hf", hf], [hf]),
    ]
    for q in args.quantize:
        out = os.path.join(DIR, f"synth-{q}.gguf")
        commands.append((f"quantize {q}", [binary, "quantize", gguf, out, q], [out]))
    rounds = []
    for i in range(args.rounds):
        rounds.append({name: run(cmd, outs) for name, cmd, outs in commands})
    best = lambda name: min(r[name][0] for r in rounds)
    ratio = lambda name, base: statistics.median(r[name][0] / r[base][0] for r in rounds)
    rows = [(name, best(name), max(r[name][1] for r in rounds)) for name, _, _ in commands]
    cp_name, sync_name = commands[0][0], commands[1][0]
    print(f"source {src}: {size:.1f} MiB; largest tensor (emb/head, bf16) {largest:.1f} MiB; "
          f"memory bound = largest + 64 MiB = {largest + 64:.1f} MiB")
    print(f"{args.rounds} rounds: best wall time; ratios are medians of each round's ratio")
    print(f"{'command':<40}{'wall s':>9}{'x cp':>7}{'x cp+sync':>10}{'peak RSS MiB':>14}")
    for name, t, rss in rows:
        print(f"{name:<40}{t:>9.2f}{ratio(name, cp_name):>7.2f}{ratio(name, sync_name):>10.2f}{rss:>14.1f}")


if __name__ == "__main__":
    main()
