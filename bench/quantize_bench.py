#!/usr/bin/env python3
"""Quantization throughput, rwkv-convert against ggml's own quantizer, in one run, on the same
seeded 4096 x 4096 f32 matrix (weight-like N(0, 0.02^2)): million values/s per type with 1 and 2
threads. ggml is llama-cpp-python 0.3.36's libggml-base (the x86-64 baseline build), called with
ctypes; its 2-thread figure splits the rows between two threads as llama-quantize does. Types named
TYPE+imatrix run with the same seeded importance vector (exp(N(0, 1.2^2)), one weight per column) on
both sides: ggml quantizes IQ2_XXS, IQ2_XS and IQ1_S only with one.

    LIBGGML=/path/to/libggml-base.so python3 bench/quantize_bench.py [TYPE ...]
(default: the venv the golden scripts use, /opt/llamaenv). Needs numpy and cargo.
"""
import ctypes
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.environ.get("LIBGGML", "/opt/llamaenv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so")
ROWS, COLS = 4096, 4096
TYPES = {"q8_0": 8, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "iq4_nl": 20, "iq4_xs": 23, "q4_K": 12, "q5_K": 13,
         "q6_K": 14, "q3_K": 11, "q2_K": 10, "iq3_xxs": 18, "iq3_s": 21, "tq1_0": 34, "tq2_0": 35, "q2_0": 42, "q1_0": 41, "mxfp4": 39, "iq2_s": 22,
         "iq2_xxs+imatrix": 16, "iq2_xs+imatrix": 17, "iq2_s+imatrix": 22,
         "iq1_s+imatrix": 19, "iq1_m": 29, "iq1_m+imatrix": 29}


def ggml_rates(x, qw):
    lib = ctypes.CDLL(LIB)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    out = {}
    for name, t in TYPES.items():
        lib.ggml_quantize_init(t)
        dst = np.zeros(lib.ggml_row_size(t, COLS) * ROWS, dtype=np.uint8)
        # The plain reference paths, as llama-quantize runs them without an imatrix, unless named +imatrix.
        imatrix = qw.ctypes.data if name.endswith("+imatrix") else None
        rec = {}
        for threads in (1, 2):
            def work(r0, r1):
                # ggml offsets both src and dst itself from `start` (in values).
                lib.ggml_quantize_chunk(t, x.ctypes.data, dst.ctypes.data, r0 * COLS, r1 - r0, COLS, imatrix)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                if threads == 1:
                    work(0, ROWS)
                else:
                    half = ROWS // 2
                    ts = [threading.Thread(target=work, args=(0, half)), threading.Thread(target=work, args=(half, ROWS))]
                    [th.start() for th in ts]
                    [th.join() for th in ts]
                best = min(best, time.perf_counter() - t0)
            rec[f"threads_{threads}_mvals_per_s"] = ROWS * COLS / best / 1e6
        out[name] = rec
    return out


def main():
    global TYPES
    if len(sys.argv) > 1:
        TYPES = {name: TYPES[name] for name in sys.argv[1:]}
    x = (np.random.default_rng(7).standard_normal((ROWS, COLS)) * 0.02).astype(np.float32)
    path = os.path.join("/tmp", "rwkv-convert-quant-bench.f32")
    x.tofile(path)
    qw = np.exp(np.random.default_rng(8).standard_normal(COLS) * 1.2).astype(np.float32)
    qw_path = os.path.join("/tmp", "rwkv-convert-quant-bench.imatrix.f32")
    qw.tofile(qw_path)
    ours = subprocess.run(["cargo", "bench", "--quiet", "--bench", "quantize", "--", path, str(ROWS), str(COLS), *TYPES,
                           "--imatrix", qw_path],
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout
    ours = json.loads(ours[ours.index("{"):])
    theirs = ggml_rates(x, qw)
    print(f"{ROWS}x{COLS} f32, million values per second (best of 3)")
    print(f"{'type':<16}{'ours 1T':>10}{'ggml 1T':>10}{'ratio':>7}{'ours 2T':>10}{'ggml 2T':>10}{'ours 2T/1T':>12}")
    for name in TYPES:
        o1, o2 = ours[name]["threads_1_mvals_per_s"], ours[name]["threads_2_mvals_per_s"]
        g1, g2 = theirs[name]["threads_1_mvals_per_s"], theirs[name]["threads_2_mvals_per_s"]
        print(f"{name:<16}{o1:>10.1f}{g1:>10.1f}{o1 / g1:>6.2f}x{o2:>10.1f}{g2:>10.1f}{o2 / o1:>11.2f}x")


if __name__ == "__main__":
    sys.exit(main())
