#!/usr/bin/env python3
"""Engine benchmark, side by side with the official `rwkv` package (cpu fp32) on one checkpoint.

    python3 bench/engine_bench.py [MODEL.pth]     # default: a generated 191M RWKV-7 (12 x 768, V 65536)

Prints, in one run: sequence-mode prefill tokens/s for T=512 (ours with the fast and the plain WKV
kernel, and the package's), token-mode decode tokens/s (both), decode's weight bandwidth next to this
machine's measured memory bandwidth, and the share of prefill time spent in the WKV recurrence.
Needs cargo, torch and rwkv==0.8.32 (golden/requirements.txt).
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")
T_PREFILL, T_DECODE = 512, 64

OFFICIAL = r"""
import json, os, sys, time
os.environ["RWKV_V7_ON"] = "1"; os.environ["RWKV_JIT_ON"] = "1"; os.environ["RWKV_CUDA_ON"] = "0"
import torch
from rwkv.model import RWKV
path, t_prefill, t_decode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = RWKV(model=path[:-4], strategy="cpu fp32")
vocab = model.args.vocab_size if hasattr(model.args, "vocab_size") else 65536
toks = [((i * 7919 + 13) % (vocab - 1) + 1) for i in range(t_prefill)]
def best(n, f):
    out = []
    for _ in range(n):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
    return min(out)
with torch.no_grad():
    prefill = best(2, lambda: model.forward(toks, None))
    _, state = model.forward(toks[:16], None)
    steps = toks[:t_decode]
    def decode():
        s = [x.clone() for x in state]
        for t in steps:
            _, s = model.forward([t], s)
    dec = best(2, decode) / t_decode
print(json.dumps({"prefill_tokens_per_second": t_prefill / prefill, "decode_tokens_per_second": 1 / dec,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
"""


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(DIR, "v7-L12-C768-V65536-bf16.pth")
    if not os.path.exists(model):
        os.makedirs(DIR, exist_ok=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_v7_model.py"), "--out", model], check=True,
                       stdout=subprocess.DEVNULL)
    ours = subprocess.run(["cargo", "bench", "--quiet", "--bench", "engine", "--", model, "--prefill", str(T_PREFILL),
                           "--decode", str(T_DECODE)], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    ours = json.loads(ours[ours.index("{"):])
    official = subprocess.run([sys.executable, "-c", OFFICIAL, model, str(T_PREFILL), str(T_DECODE)], check=True,
                              capture_output=True, text=True).stdout
    official = json.loads(official.strip().splitlines()[-1])

    print(f"model: {model} ({ours['params']:,} parameters), {ours['threads']} threads; "
          f"official: rwkv 0.8.32, torch {official['torch']}, {official['threads']} threads, cpu fp32")
    rows = [
        ("prefill T=512, tokens/s", ours["prefill_tokens_per_second"], official["prefill_tokens_per_second"]),
        ("decode, tokens/s", ours["decode_tokens_per_second"], official["decode_tokens_per_second"]),
    ]
    print(f"{'':32}{'rwkv-convert':>14}{'official':>12}{'ratio':>9}")
    for name, a, b in rows:
        print(f"{name:32}{a:>14.1f}{b:>12.1f}{a / b:>8.1f}x")
    print(f"prefill with the plain WKV kernel: {ours['prefill_plain_kernel_tokens_per_second']:.1f} tokens/s")
    if ours.get("wkv_fast_share_of_prefill") is not None:
        print(f"WKV recurrence (fast kernel, all layers, T=512): {ours['wkv_fast_seconds_all_layers'] * 1e3:.0f} ms of "
              f"{ours['prefill_seconds'] * 1e3:.0f} ms prefill ({100 * ours['wkv_fast_share_of_prefill']:.1f}%); "
              f"plain kernel {ours['wkv_plain_seconds_all_layers'] * 1e3:.0f} ms")
    print(f"decode weight bandwidth: {ours['decode_weight_gb_per_second']:.1f} GB/s "
          f"({ours['decode_weight_bytes_per_token'] / 1e6:.0f} MB of f32 weights per token); memory: copy "
          f"{ours['memory_copy_gb_per_second']:.1f} GB/s (read+write), read {ours['memory_read_gb_per_second']:.1f} GB/s "
          f"-> {100 * ours['decode_share_of_copy_bandwidth']:.0f}% of copy, "
          f"{100 * ours['decode_share_of_read_bandwidth']:.0f}% of read bandwidth")


if __name__ == "__main__":
    main()
