#!/usr/bin/env python3
"""Whole-model quantization, rwkv-convert against llama.cpp's llama-quantize, in one run: the same
16-bit GGUF in, each file type out, 1 and 2 threads, wall time (best of N) and a byte comparison of
the two outputs.

    python3 bench/quantize_model_bench.py MODEL.gguf [--llama-quantize PATH] [--types ...] [--repeat N]

MODEL.gguf: e.g. the 191M-parameter RWKV-7 shape, made without downloads by
    rwkv-convert synth --layers 12 --embd 768 --vocab 65536 /tmp/v7.pth
    rwkv-convert convert /tmp/v7.pth --to gguf --outtype bf16 -o /tmp/v7-bf16.gguf
llama-quantize: llama.cpp 0c1e570 (the sdist of llama-cpp-python 0.3.36), built with its default
CMake flags; see golden/gguf/README.md.
"""
import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_NL", "IQ3_M", "IQ3_XS"]


def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--llama-quantize", default="/opt/lq-build/bin/llama-quantize")
    ap.add_argument("--types", nargs="*", default=TYPES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--imatrix", help="an importance matrix given to both (the IQ2/IQ1 types need one)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    ours_bin = os.path.join(ROOT, "target", "release", "rwkv-convert")
    rows = []
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(a.model))) as tmp:
        for ty in a.types:
            rec = {"type": ty}
            for threads in (1, 2):
                mine, theirs = os.path.join(tmp, f"ours-{ty}.gguf"), os.path.join(tmp, f"lq-{ty}.gguf")
                to, tl = [], []
                for _ in range(a.repeat):
                    # Interleaved, so that a busy moment hurts both alike.
                    im = ["--imatrix", a.imatrix] if a.imatrix else []
                    to.append(timed([ours_bin, "--threads", str(threads), "quantize", a.model, mine, ty, "--force", *im]))
                    tl.append(timed([a.llama_quantize, *im, a.model, theirs, ty, str(threads)]))
                rec[f"ours_{threads}t_s"], rec[f"llama_{threads}t_s"] = min(to), min(tl)
                rec["identical"] = filecmp.cmp(mine, theirs, shallow=False)
                rec["bytes"] = os.path.getsize(mine)
            rows.append(rec)
            if not a.json:
                print(f"{ty:<8} ours {rec['ours_1t_s']:6.2f}s/{rec['ours_2t_s']:6.2f}s  "
                      f"llama-quantize {rec['llama_1t_s']:6.2f}s/{rec['llama_2t_s']:6.2f}s  (1T/2T)  "
                      f"speed-up {rec['llama_1t_s'] / rec['ours_1t_s']:.2f}x/{rec['llama_2t_s'] / rec['ours_2t_s']:.2f}x  "
                      f"ours 2T/1T {rec['ours_1t_s'] / rec['ours_2t_s']:.2f}x  identical={rec['identical']}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
