#!/usr/bin/env python3
"""The whole default release set from a `.pth`, timed two ways on the same machine:

  ours:      rwkv-convert release SRC --name N --out DIR --eval TEXT   (quality measurement included)
  llama.cpp: fla's convert_from_rwkv7.py (pth -> HF) + convert_hf_to_gguf.py --outtype bf16 and f16,
             then one llama-quantize call per quantized type (2 threads), no quality measurement

and checks that every GGUF of ours is byte-identical to llama.cpp's.

    /opt/llamaenv/bin/python bench/release_bench.py [--src SRC.pth] [--eval TEXT]

Needs the venv the golden scripts use (torch, flash-linear-attention 0.6.0, llama-cpp-python 0.3.36's
sdist for convert_hf_to_gguf.py, and its llama-quantize build); see golden/gguf/README.md. The default
source is the 191M-parameter RWKV-7 shape made by `rwkv-convert synth` (seeded random weights).
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")
LLAMA_SRC = "/opt/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
FLA_CONVERTER = "/opt/work/ext/convert_from_rwkv7.py"
LQ = "/opt/lq-build/bin/llama-quantize"
# release suffix -> llama-quantize arguments
QUANTS = {
    "bf16-q8_0": ["--output-tensor-type", "bf16", "--token-embedding-type", "bf16", "Q8_0"],
    "f16-q8_0": ["--output-tensor-type", "f16", "--token-embedding-type", "f16", "Q8_0"],
    "q8_0": ["Q8_0"], "q6_k": ["Q6_K"], "q4_k": ["Q4_K_M"], "q4_k_s": ["Q4_K_S"], "q4_0": ["Q4_0"],
    "iq3_xs": ["IQ3_XS"], "iq3_m": ["IQ3_M"],
}


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(DIR, "synth-v7-L12-C768-V65536-bf16.pth"))
    ap.add_argument("--eval", default=os.path.join(ROOT, "golden", "tokenizer", "corpus.txt"))
    ap.add_argument("--eval-tokens", default="1024")
    # llama.cpp's converter names the model after the HF folder ("bench" -> "Bench"); ours takes --name.
    ap.add_argument("--name", default="Bench")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "rwkv-convert")
    if not os.path.exists(a.src):
        subprocess.run([binary, "synth", a.src, "--layers", "12", "--embd", "768", "--vocab", "65536"], check=True)
    ours, theirs = os.path.join(DIR, "release-ours"), os.path.join(DIR, "release-llamacpp")
    for d in (ours, theirs):
        shutil.rmtree(d, ignore_errors=True)

    t_ours = timed([binary, "release", a.src, "--name", a.name, "--out", ours, "--eval", a.eval,
                    "--eval-tokens", a.eval_tokens])

    os.makedirs(theirs)
    hf = os.path.join(theirs, a.name.lower())
    steps = {}
    steps["fla convert_from_rwkv7.py (pth -> HF)"] = timed(
        [sys.executable, FLA_CONVERTER, "--rwkv7", a.src, "--output", hf, "--precision", "bf16"])
    import rwkv  # the World vocabulary file llama.cpp's converter reads from the HF folder
    vocab = open(os.path.join(os.path.dirname(rwkv.__file__), "rwkv_vocab_v20230424.txt"), "rb").read()
    open(os.path.join(hf, "rwkv_vocab_v20230424.txt"), "wb").write(
        b"".join(l.rstrip(b"\r") + b"\n" for l in vocab.split(b"\n")[:65535] if l.strip()))
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)
    for outtype in ("bf16", "f16"):
        out = os.path.join(theirs, f"{a.name}-{outtype}.gguf")
        steps[f"convert_hf_to_gguf.py --outtype {outtype}"] = timed(
            [sys.executable, os.path.join(LLAMA_SRC, "convert_hf_to_gguf.py"), "--outtype", outtype, "--outfile", out, hf],
            env=env)
    base = os.path.join(theirs, f"{a.name}-bf16.gguf")
    for suffix, args in QUANTS.items():
        out = os.path.join(theirs, f"{a.name}-{suffix}.gguf")
        steps[f"llama-quantize {' '.join(args)}"] = timed([LQ] + args[:-1] + [base, out, args[-1], "2"])
    t_theirs = sum(steps.values())

    print(f"191M-parameter RWKV-7 shape, default release set ({len(QUANTS) + 2} GGUF files), 2 cores")
    for k, v in steps.items():
        print(f"  llama.cpp  {k:<60} {v:7.1f} s")
    print(f"  llama.cpp  total (no quality measurement){'':<20} {t_theirs:7.1f} s")
    print(f"  rwkv-convert release (with KL/top-1/ppl of all 11 files){'':<5} {t_ours:7.1f} s")
    print(f"  ratio ours / llama.cpp: {t_ours / t_theirs:.2f}x")
    same = []
    for suffix in ["bf16", "f16"] + list(QUANTS):
        f = f"{a.name}-{suffix}.gguf"
        same.append(filecmp.cmp(os.path.join(ours, f), os.path.join(theirs, f), shallow=False))
        print(f"  {f:<24} identical={same[-1]}")
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
