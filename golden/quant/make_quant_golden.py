#!/usr/bin/env python3
"""Block-level quantization test vectors produced by llama.cpp's own ggml (outside truth).

Calls, through ctypes, the ggml shared library that `pip install llama-cpp-python==0.3.36`
builds from its vendored llama.cpp (commit 0c1e570, ggml 0.25.3):

  ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix)   -> TYPE.bin / TYPE.imatrix.bin
  ggml_get_type_traits(type)->to_float(q, y, n)                       -> TYPE.dequant.f32 / TYPE.imatrix.dequant.f32
  ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row (+ _ref)              -> F16.bin / BF16.bin

Usage:  python golden/quant/make_quant_golden.py [--lib /path/to/libggml-base.so] [--out DIR]
Without --lib the library is taken from the installed `llama_cpp` package (llama_cpp/lib/).
Deterministic: inputs come from numpy's PCG64 with fixed seeds; rerunning rewrites the same bytes.
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import sys

import numpy as np

SEED = 20240917

# ggml_type ids (ggml/include/ggml.h at 0c1e570)
TYPES = {
    "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q4_K": 12, "Q5_K": 13, "Q6_K": 14,
    "IQ3_XXS": 18, "IQ4_NL": 20, "IQ3_S": 21,
}
F16_ID, BF16_ID = 1, 30


def find_lib(explicit):
    if explicit:
        return explicit
    import llama_cpp  # noqa: the installed llama-cpp-python
    d = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    for name in ("libggml-base.so", "libggml.so"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"no libggml-base.so under {d}")


class TypeTraits(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def load(libpath):
    lib = ctypes.CDLL(libpath)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    lib.ggml_type_name.restype = ctypes.c_char_p
    lib.ggml_type_name.argtypes = [ctypes.c_int]
    for fn in ("ggml_fp32_to_fp16_row", "ggml_fp32_to_bf16_row", "ggml_fp32_to_bf16_row_ref"):
        getattr(lib, fn).restype = None
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.ggml_quantize_free.restype = None
    lib.ggml_quantize_free.argtypes = []
    return lib


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


# ---------------------------------------------------------------- inputs

def rows_256(rng):
    """19 rows of 256; each row is a 256-superblock = 8 sub-blocks of 32 = 16 groups of 16."""
    n = 256
    R = []
    desc = []

    def add(x, d):
        R.append(np.asarray(x, dtype=np.float32).reshape(n))
        desc.append(d)

    add(rng.normal(0, 0.02, n), "weight-like N(0, 0.02^2)")
    add(rng.normal(0, 1.0, n), "N(0, 1)")
    add(np.zeros(n), "all zero")
    x = rng.normal(0, 0.05, n); x[64:96] = 0
    add(x, "N(0, 0.05^2) with sub-block 2 (values 64..95) exactly zero (IQ3_S pointer bug, IQ3_XXS zero sub-block)")
    x = rng.normal(0, 0.05, n); x[16:32] = 0
    add(x, "N(0, 0.05^2) with 16-group 1 (values 16..31) exactly zero (Q6_K zero group; half of a 32 sub-block)")
    x = rng.normal(0, 0.02, n); x[[3, 77, 130, 200]] = [1.5, -4.0, 7.25, -0.9]
    add(x, "N(0, 0.02^2) with outliers at 3, 77, 130, 200 (+1.5, -4.0, +7.25, -0.9)")
    add(rng.uniform(0.01, 1.0, n), "all positive U(0.01, 1)")
    add(rng.integers(-16, 17, n) / 8.0, "exact ties: k/8, k in -16..16")
    add(rng.normal(0, 1.0, n) * 1e-6, "tiny: N(0,1)*1e-6 (scales below half the smallest fp16 subnormal round to 0 for Q8_0/Q6_K/IQ4_NL/IQ3_*; subnormal for Q4_0/Q5_0/...)")
    add(rng.normal(0, 1.0, n) * 100.0, "large: N(0,1)*100")
    mags = np.repeat(np.array([1e-8, 1e-6, 1e-4, 1e-2, 1.0, 10.0, 100.0, 0.5]), 32)
    add(rng.normal(0, 1.0, n) * mags, "sub-block magnitudes 1e-8,1e-6,1e-4,1e-2,1,10,100,0.5 (scale underflow / dj==0 paths)")
    add(-rng.uniform(0.01, 1.0, n), "all negative -U(0.01, 1)")
    add(np.full(n, 0.5), "constant 0.5")
    x = rng.normal(0, 0.1, n); x[rng.random(n) < 0.9] = 0
    add(x, "sparse: ~90% exact zeros, rest N(0, 0.1^2)")
    add(rng.laplace(0, 0.03, n), "heavy-tailed Laplace(0, 0.03)")
    x = rng.integers(-16, 17, n) / 16.0
    x[rng.random(n) < 0.15] = -0.0
    add(x, "ties k/16 in [-1, 1] with ~15% negative zeros (-0.0)")
    add(rng.normal(0, 1.0, n) * 3e-4, "small: N(0,1)*3e-4 (fp16-subnormal but non-zero scales for every type)")
    # Drawn from their own generator so that the rows above and below keep their values.
    xr = np.random.default_rng(SEED + 1)
    add(xr.normal(0, 1.0, n) * 1e-38, "near FLT_MIN: N(0,1)*1e-38 (1/d overflows to inf; x*id is +-inf: cvttss2si's 0x80000000)")
    add(xr.normal(0, 1.0, n) * 1e-40, "f32 subnormal: N(0,1)*1e-40")
    # No NaN/inf rows: ggml itself aborts on them (IQ3: GGML_ASSERT(grid_index >= 0)).
    return np.stack(R), desc


def rows_512(rng):
    n = 512
    R = []
    desc = []

    def add(x, d):
        R.append(np.asarray(x, dtype=np.float32).reshape(n))
        desc.append(d)

    add(rng.normal(0, 0.02, n), "weight-like N(0, 0.02^2)")
    x = rng.normal(0, 0.5, n); x[:256] = 0
    add(x, "first 256-superblock all zero, second N(0, 0.5^2)")
    x = rng.normal(0, 0.05, n); x[288:320] = 0; x[480:496] = 0
    add(x, "zero 32 sub-block at 288..319 and zero 16-group at 480..495")
    x = rng.standard_t(2, n).astype(np.float64) * 0.02
    add(x, "Student-t(2)*0.02 (outliers)")
    add(rng.uniform(0.0, 2.0, n), "all non-negative U(0, 2)")
    add(rng.integers(-64, 65, n) / 8.0, "exact ties k/8 in [-8, 8]")
    mags = np.repeat(np.array([1e-6, 100.0, 1e-3, 1.0]), 128)
    add(rng.normal(0, 1.0, n) * mags, "128-value stretches of magnitude 1e-6, 100, 1e-3, 1")
    add(rng.normal(0.3, 0.05, n), "biased N(0.3, 0.05^2) (non-zero mean: Q4_1/Q5_1/K-quant mins)")
    return np.stack(R), desc


def imatrix_for(rng, n):
    # seeded positive importance weights, spanning ~3 orders of magnitude
    return np.exp(rng.normal(0, 1.2, n)).astype(np.float32)


# ---------------------------------------------------------------- main

def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    libpath = find_lib(args.lib)
    lib = load(libpath)

    rng = np.random.default_rng(SEED)
    a, da = rows_256(rng)
    b, db = rows_512(rng)
    im_a = imatrix_for(rng, 256)
    im_b = imatrix_for(rng, 512)
    segs = [(a, im_a, da), (b, im_b, db)]

    out = args.out
    os.makedirs(out, exist_ok=True)

    inputs = np.concatenate([a.reshape(-1), b.reshape(-1)]).astype("<f4")
    imat = np.concatenate([im_a, im_b]).astype("<f4")
    open(os.path.join(out, "inputs.f32"), "wb").write(inputs.tobytes())
    open(os.path.join(out, "imatrix.f32"), "wb").write(imat.tobytes())

    manifest = {
        "description": "ggml block quantization test vectors from llama.cpp's own ggml (see README.md)",
        "regenerate": "python golden/quant/make_quant_golden.py   (in the venv where llama-cpp-python==0.3.36 is installed)",
        "library": {
            "path_at_generation": libpath,
            "llama_cpp_python": None,
            "llama_cpp_commit": "0c1e57098bba43ac29e6e3b677cdceebdd22334f",
            "ggml_version": "0.25.3",
            "machine": platform.machine(),
        },
        "seed": SEED,
        "rng": "numpy.random.default_rng (PCG64), numpy " + np.__version__,
        "byte_order": "little-endian everywhere",
        "inputs": {
            "file": "inputs.f32", "dtype": "f32", "sha256": sha(inputs.tobytes()),
            "segments": [
                {"offset_values": 0, "rows": int(a.shape[0]), "n_per_row": 256, "row_descriptions": da},
                {"offset_values": int(a.size), "rows": int(b.shape[0]), "n_per_row": 512, "row_descriptions": db},
            ],
        },
        "imatrix": {
            "file": "imatrix.f32", "dtype": "f32", "sha256": sha(imat.tobytes()),
            "note": "one importance weight per column; segment k's vector is used for every row of input segment k",
            "segments": [
                {"offset_values": 0, "n": 256},
                {"offset_values": 256, "n": 512},
            ],
        },
        "types": {},
    }
    try:
        import importlib.metadata as md
        manifest["library"]["llama_cpp_python"] = md.version("llama_cpp_python")
    except Exception:
        pass

    for name, tid in TYPES.items():
        tr = lib.ggml_get_type_traits(tid).contents
        assert tr.type_name.decode() == name.lower() or tr.type_name.decode().upper() == name, tr.type_name
        to_float = TO_FLOAT(tr.to_float)
        entry = {
            "ggml_type": tid,
            "ggml_type_name": tr.type_name.decode(),
            "block_elems": int(tr.blck_size),
            "block_bytes": int(tr.type_size),
            "requires_imatrix": bool(lib.ggml_quantize_requires_imatrix(tid)),
        }
        for variant in ("plain", "imatrix"):
            qparts, dparts, seginfo = [], [], []
            off = 0
            for (m, im, _d) in segs:
                nrows, npr = m.shape
                src = np.ascontiguousarray(m, dtype=np.float32)
                rs = lib.ggml_row_size(tid, npr)
                dst = np.zeros(rs * nrows, dtype=np.uint8)
                imp = None
                if variant == "imatrix":
                    imarr = np.ascontiguousarray(im, dtype=np.float32)
                    imp = ptr(imarr)
                got = lib.ggml_quantize_chunk(tid, ptr(src), ptr(dst), 0, nrows, npr, imp)
                assert got == rs * nrows, (name, got, rs * nrows)
                y = np.zeros(nrows * npr, dtype=np.float32)
                to_float(ptr(dst), ptr(y), nrows * npr)
                qparts.append(dst.tobytes())
                dparts.append(y.astype("<f4").tobytes())
                seginfo.append({"offset_bytes": off, "row_bytes": int(rs), "rows": int(nrows)})
                off += len(dst)
            qb = b"".join(qparts)
            dq = b"".join(dparts)
            suffix = "" if variant == "plain" else ".imatrix"
            open(os.path.join(out, f"{name}{suffix}.bin"), "wb").write(qb)
            open(os.path.join(out, f"{name}{suffix}.dequant.f32"), "wb").write(dq)
            entry[variant] = {
                "bin": f"{name}{suffix}.bin", "bin_sha256": sha(qb), "bin_bytes": len(qb),
                "dequant": f"{name}{suffix}.dequant.f32", "dequant_sha256": sha(dq),
                "segments": seginfo,
            }
        entry["imatrix_changes_bytes"] = entry["plain"]["bin_sha256"] != entry["imatrix"]["bin_sha256"]
        manifest["types"][name] = entry

    # F16 / BF16 row conversion
    n = inputs.size
    h = np.zeros(n, dtype=np.uint16)
    lib.ggml_fp32_to_fp16_row(ptr(inputs), ptr(h), n)
    bf = np.zeros(n, dtype=np.uint16)
    lib.ggml_fp32_to_bf16_row(ptr(inputs), ptr(bf), n)
    bfr = np.zeros(n, dtype=np.uint16)
    lib.ggml_fp32_to_bf16_row_ref(ptr(inputs), ptr(bfr), n)
    assert (bf == bfr).all()
    # cross-check against numpy's IEEE RNE conversion
    assert (inputs.astype(np.float16).view(np.uint16) == h).all()
    open(os.path.join(out, "F16.bin"), "wb").write(h.astype("<u2").tobytes())
    open(os.path.join(out, "BF16.bin"), "wb").write(bf.astype("<u2").tobytes())
    manifest["types"]["F16"] = {"ggml_type": F16_ID, "function": "ggml_fp32_to_fp16_row(inputs, dst, n)",
                                "bin": "F16.bin", "bin_sha256": sha(h.astype("<u2").tobytes()),
                                "note": "identical to numpy astype(float16) (checked)"}
    manifest["types"]["BF16"] = {"ggml_type": BF16_ID,
                                 "function": "ggml_fp32_to_bf16_row(inputs, dst, n) (== ggml_fp32_to_bf16_row_ref, checked; ggml_quantize_chunk uses the _ref one)",
                                 "bin": "BF16.bin", "bin_sha256": sha(bf.astype("<u2").tobytes())}

    lib.ggml_quantize_free()

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
