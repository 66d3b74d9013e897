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

Every (type, variant) is first run in a child process (this script with --probe) because ggml
aborts the whole process (GGML_ASSERT) on some inputs; if a child dies, every row is probed on its
own and the type's files are made from the rows that do not abort (manifest: rows_included /
rows_aborting per segment). Types for which ggml_quantize_requires_imatrix() is true are never
called without an imatrix (ggml_quantize_chunk would abort: GGML_ASSERT(imatrix != NULL)).
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import subprocess
import sys

import numpy as np

SEED = 20240917

# ggml_type ids (ggml/include/ggml.h at 0c1e570)
# The first 11: the original set (their files and manifest entries are unchanged).
ORIGINAL_TYPES = {
    "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q4_K": 12, "Q5_K": 13, "Q6_K": 14,
    "IQ3_XXS": 18, "IQ4_NL": 20, "IQ3_S": 21,
}
# Every other type ggml_quantize_chunk (ggml.c at 0c1e570) has a case for, F16/BF16/F32 aside.
# (Q8_1 = 9 and Q8_K = 15 have no case there: they are only vec_dot partners.)
NEW_TYPES = {
    "Q2_K": 10, "Q3_K": 11,
    "IQ2_XXS": 16, "IQ2_XS": 17, "IQ1_S": 19, "IQ2_S": 22, "IQ4_XS": 23, "IQ1_M": 29,
    "TQ1_0": 34, "TQ2_0": 35,
    "MXFP4": 39, "NVFP4": 40,
    "Q1_0": 41, "Q2_0": 42,
}
TYPES = {**ORIGINAL_TYPES, **NEW_TYPES}
F16_ID, BF16_ID = 1, 30
VARIANTS = ("plain", "imatrix")


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


def make_inputs():
    rng = np.random.default_rng(SEED)
    a, da = rows_256(rng)
    b, db = rows_512(rng)
    im_a = imatrix_for(rng, 256)
    im_b = imatrix_for(rng, 512)
    return [(a, im_a, da), (b, im_b, db)]


def quantize_rows(lib, tid, m, im, variant):
    """ggml_quantize_chunk on the rows of m (one call), then to_float; returns (q bytes, f32 bytes, row bytes)."""
    nrows, npr = m.shape
    src = np.ascontiguousarray(m, dtype=np.float32)
    rs = lib.ggml_row_size(tid, npr)
    dst = np.zeros(rs * nrows, dtype=np.uint8)
    imp = None
    if variant == "imatrix":
        imarr = np.ascontiguousarray(im, dtype=np.float32)
        imp = ptr(imarr)
    got = lib.ggml_quantize_chunk(tid, ptr(src), ptr(dst), 0, nrows, npr, imp)
    assert got == rs * nrows, (tid, got, rs * nrows)
    to_float = TO_FLOAT(lib.ggml_get_type_traits(tid).contents.to_float)
    y = np.zeros(nrows * npr, dtype=np.float32)
    to_float(ptr(dst), ptr(y), nrows * npr)
    return dst.tobytes(), y.astype("<f4").tobytes(), int(rs)


# ---------------------------------------------------------------- abort probing (child processes)

def probe_child(args):
    """--probe TID JOB [JOB ...], JOB = VARIANT:SEG:ROWS (ROWS comma-separated): quantize and dequantize
    those rows, one ggml_quantize_chunk call per job; the process dies if ggml aborts."""
    tid, jobs = int(args.probe[0]), args.probe[1:]
    lib = load(find_lib(args.lib))
    segs = make_inputs()
    for job in jobs:
        variant, seg, rows = job.split(":")
        m, im, _ = segs[int(seg)]
        quantize_rows(lib, tid, m[[int(r) for r in rows.split(",")]], im, variant)
    print("ok")


def probe_runs(libarg, tid, jobs):
    """jobs: [(variant, seg, rows)]; runs them in one child; (True, None) or (False, {returncode, message})."""
    cmd = [sys.executable, os.path.abspath(__file__), "--probe", str(tid)]
    cmd += [f"{v}:{s}:{','.join(str(r) for r in rows)}" for v, s, rows in jobs]
    if libarg:
        cmd += ["--lib", libarg]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if r.returncode == 0 and r.stdout.strip() == b"ok":
        return True, None
    # keep the first line that names the failed assertion (ggml prints file:line: GGML_ASSERT(...) failed)
    msg = next((ln.strip() for ln in r.stderr.decode(errors="replace").splitlines()
                if "GGML_ASSERT" in ln or "GGML_ABORT" in ln or "fatal error" in ln), None)
    if msg and "/ggml/src/" in msg:
        msg = "ggml/src/" + msg.split("/ggml/src/", 1)[1]    # drop the build directory
    return False, {"returncode": r.returncode, "message": msg}


def probe_type(libarg, tid, variants, segs):
    """{variant: per segment (rows_included, rows_aborting = [{row, returncode, message}])}.
    One child for the whole type; only if it dies, one per (variant, segment), then one per row."""
    allrows = [list(range(m.shape[0])) for m, _im, _d in segs]
    res = {v: [(rows, []) for rows in allrows] for v in variants}
    ok, _ = probe_runs(libarg, tid, [(v, s, rows) for v in variants for s, rows in enumerate(allrows)])
    if ok:
        return res
    for v in variants:
        for s, rows in enumerate(allrows):
            if probe_runs(libarg, tid, [(v, s, rows)])[0]:
                continue
            inc, bad = [], []
            for r in rows:
                ok, info = probe_runs(libarg, tid, [(v, s, [r])])
                if ok:
                    inc.append(r)
                else:
                    bad.append({"row": r, **info})
            res[v][s] = (inc, bad)
    return res


# ---------------------------------------------------------------- main

def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--probe", nargs="+", metavar="TID JOB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        return probe_child(args)
    libpath = find_lib(args.lib)
    lib = load(libpath)

    segs = make_inputs()
    (a, im_a, da), (b, im_b, db) = segs

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

    quant_entries = {}
    for name, tid in TYPES.items():
        tr = lib.ggml_get_type_traits(tid).contents
        assert tr.type_name.decode() == name.lower() or tr.type_name.decode().upper() == name, tr.type_name
        assert tr.to_float, name
        requires = bool(lib.ggml_quantize_requires_imatrix(tid))
        entry = {
            "ggml_type": tid,
            "ggml_type_name": tr.type_name.decode(),
            "block_elems": int(tr.blck_size),
            "block_bytes": int(tr.type_size),
            "requires_imatrix": requires,
        }
        variants = [v for v in VARIANTS if not (v == "plain" and requires)]
        probes = probe_type(args.lib, tid, variants, segs)
        for variant in VARIANTS:
            suffix = "" if variant == "plain" else ".imatrix"
            if variant == "plain" and requires:
                assert name in NEW_TYPES
                entry[variant] = {
                    "refused_by_ggml": True,
                    "note": "ggml_quantize_requires_imatrix() is true: ggml_quantize_chunk(type, ..., imatrix=NULL) "
                            "aborts with GGML_ASSERT(imatrix != NULL) (ggml/src/ggml.c:8078); not called, no file",
                }
                continue
            probed = probes[variant]
            if name in ORIGINAL_TYPES:
                # the original files hold every row; a change here would change them
                assert all(not bad for _inc, bad in probed), (name, variant, probed)
            qparts, dparts, seginfo = [], [], []
            off = 0
            for (m, im, _d), (inc, bad) in zip(segs, probed):
                if inc:
                    qb, dq, rs = quantize_rows(lib, tid, m[inc], im, variant)
                else:
                    qb, dq, rs = b"", b"", int(lib.ggml_row_size(tid, m.shape[1]))
                qparts.append(qb)
                dparts.append(dq)
                si = {"offset_bytes": off, "row_bytes": rs, "rows": len(inc)}
                if name in NEW_TYPES:
                    si["rows_included"] = inc
                    si["rows_aborting"] = bad
                seginfo.append(si)
                off += len(qb)
            qb = b"".join(qparts)
            dq = b"".join(dparts)
            open(os.path.join(out, f"{name}{suffix}.bin"), "wb").write(qb)
            open(os.path.join(out, f"{name}{suffix}.dequant.f32"), "wb").write(dq)
            entry[variant] = {
                "bin": f"{name}{suffix}.bin", "bin_sha256": sha(qb), "bin_bytes": len(qb),
                "dequant": f"{name}{suffix}.dequant.f32", "dequant_sha256": sha(dq),
                "segments": seginfo,
            }
        if "bin" in entry["plain"] and "bin" in entry["imatrix"]:
            rows_same = all(p["rows_included"] == q["rows_included"]
                            for p, q in zip(entry["plain"]["segments"], entry["imatrix"]["segments"])) \
                if name in NEW_TYPES else True
            entry["imatrix_changes_bytes"] = (entry["plain"]["bin_sha256"] != entry["imatrix"]["bin_sha256"]) \
                if rows_same else None
        else:
            entry["imatrix_changes_bytes"] = None
        quant_entries[name] = entry

    # manifest order: the original 11 types, F16, BF16 (as before), then the new types
    for name in ORIGINAL_TYPES:
        manifest["types"][name] = quant_entries[name]

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

    for name in NEW_TYPES:
        manifest["types"][name] = quant_entries[name]
    manifest["row_selection"] = (
        "Every (type, variant) was first run in a child process; a type whose child aborted would get its files "
        "from the non-aborting rows only. The entries of the 11 original types (Q4_0 .. IQ3_S) hold every row "
        "of both segments. The entries of the types added later (Q2_K .. Q2_0) list per segment "
        "rows_included (the input rows, in order, that the file holds: row k of the file is input row "
        "rows_included[k]) and rows_aborting (rows that made ggml abort, with the exit status and ggml's "
        "message). A plain variant with refused_by_ggml has no file: ggml_quantize_requires_imatrix() is true.")

    lib.ggml_quantize_free()

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
