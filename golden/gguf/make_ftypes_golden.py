#!/usr/bin/env python3
"""Every llama-quantize file type on the golden RWKV-7 and RWKV-6 GGUFs (outside truth: golden/gguf/ftypes.json).

For each file type that `llama-quantize` of llama.cpp 0c1e570 accepts (its QUANT_OPTIONS list, as the
binary prints it, plus NVFP4, which has a LLAMA_FTYPE but is not in that list) and each model, runs

    (a) llama-quantize                                   INPUT OUT TYPE 2
    (b) llama-quantize --imatrix NAME.imatrix.gguf       INPUT OUT TYPE 2    (cwd = golden/gguf/imatrix)

and records: exit code, whether a file was written, the refusal lines, sha256 and size of the output,
`general.file_type` and the `quantize.imatrix.*` keys of the output, the (tensor name, ggml type) list in
file order, and llama-quantize's warning lines (type fallbacks, "did not find weights", ...).

    cargo build --release
    /opt/llamaenv/bin/python golden/gguf/make_ftypes_golden.py [--bin /opt/lq-build/bin] \
        [--rwkv-convert target/release/rwkv-convert] [--check-determinism]

The inputs are made exactly as make_imatrix_golden.py makes them (`rwkv-convert convert NAME.pth --to gguf
--outtype bf16 --name "vN Bf16" --tokenizer world`) and checked against the sha256 of llama.cpp's own
converter output recorded in golden/gguf/NAME.bf16.json. The importance matrices are the committed
golden/gguf/imatrix/NAME.imatrix.gguf, given by relative name from that folder, as make_imatrix_golden.py
does, because llama-quantize records the path in `quantize.imatrix.file`. Only the Python standard
library is used (the GGUF header is read by a small parser below).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
IMATRIX_DIR = HERE / "imatrix"
OUT_JSON = HERE / "ftypes.json"
MODELS = ["v7-bf16", "v6-bf16"]
COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
# Types that have a LLAMA_FTYPE in include/llama.h but are missing from QUANT_OPTIONS: tried by name anyway.
EXTRA_TYPES = ["NVFP4"]

# ggml type id -> ggml type name (ggml/include/ggml.h enum, ggml/src/ggml.c type_traits[].type_name at 0c1e570)
GGML_TYPE_NAMES = {
    0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 9: "q8_1",
    10: "q2_K", 11: "q3_K", 12: "q4_K", 13: "q5_K", 14: "q6_K", 15: "q8_K",
    16: "iq2_xxs", 17: "iq2_xs", 18: "iq3_xxs", 19: "iq1_s", 20: "iq4_nl", 21: "iq3_s", 22: "iq2_s",
    23: "iq4_xs", 24: "i8", 25: "i16", 26: "i32", 27: "i64", 28: "f64", 29: "iq1_m", 30: "bf16",
    34: "tq1_0", 35: "tq2_0", 39: "mxfp4", 40: "nvfp4", 41: "q1_0", 42: "q2_0",
}

# GGUF value types: struct format of the scalars (8 = string, 9 = array)
GGUF_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cmd, cwd=None):
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def read_gguf_header(path):
    """(kv dict of scalar/string values (arrays: None), [(tensor name, ggml type id)] in file order,
    sha256 of the tensor data section = from the aligned end of the header to the end of the file)."""
    data = Path(path).read_bytes()
    o = 0

    def take(n):
        nonlocal o
        b = data[o:o + n]
        o += n
        return b

    def unpack(fmt):
        return struct.unpack(fmt, take(struct.calcsize(fmt)))[0]

    def string():
        return take(unpack("<Q")).decode("utf-8")

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = unpack("<i"), unpack("<Q")
            for _ in range(n):
                value(et)
            return None
        return unpack(GGUF_SCALAR[t])

    assert take(4) == b"GGUF"
    unpack("<I")                                   # version
    n_tensors, n_kv = unpack("<q"), unpack("<q")
    kv = {}
    for _ in range(n_kv):
        key = string()
        kv[key] = value(unpack("<i"))
    tensors = []
    for _ in range(n_tensors):
        name = string()
        nd = unpack("<I")
        for _d in range(nd):
            unpack("<q")
        tt = unpack("<i")
        unpack("<Q")                               # offset
        tensors.append((name, tt))
    align = kv.get("general.alignment", 32)
    data_start = (o + align - 1) // align * align
    return kv, tensors, hashlib.sha256(data[data_start:]).hexdigest()


def type_name(tid):
    return GGML_TYPE_NAMES.get(tid, f"type{tid}")


def cli_type_list(bin_dir):
    """The 'allowed quantization types' table llama-quantize prints (usage, exit 1)."""
    rc, out, err = run([bin_dir / "llama-quantize"])
    rows = []
    started = False
    for line in out.splitlines():
        if "allowed quantization types" in line:
            started = True
            continue
        if not started:
            continue
        m = re.match(r"^\s*(\d+)\s+or\s+(\S+)\s*:\s?(.*)$", line)
        if m:
            rows.append({"name": m.group(2), "ftype": int(m.group(1)), "desc": m.group(3).strip(), "line": line})
            continue
        m = re.match(r"^\s+(\S+)\s*:\s?(.*)$", line)
        if m:
            rows.append({"name": m.group(1), "ftype": None, "desc": m.group(2).strip(), "line": line})
    assert rows, out
    return {"exit": rc, "types": rows}


WARN_RE = re.compile(r"warning|WARNING|did not find weights|imatrix size|falling back")
REFUSAL_RE = re.compile(r"ERROR|error|failed|invalid|offending tensor|target type|Missing importance|garbage|bailing")


def log_lines(stderr):
    """(warning lines, refusal lines) from llama-quantize's stderr (LLAMA_LOG_* and its own fprintf)."""
    warnings, refusal = [], []
    lines = []
    for ln in stderr.splitlines():
        # a fallback warning is printed without its newline before the error that ends it:
        # "warning: X - ncols 448 not divisible by 128 (required for type q1_0) llama_model_quantize: failed ..."
        lines += re.split(r"(?<=\S) (?=llama_[a-z_]+: )", ln)
    for ln in lines:
        s = ln.rstrip()
        if not s.strip() or set(s.strip()) <= {"="}:
            continue
        if s.startswith("llama_model_loader:"):
            continue
        if REFUSAL_RE.search(s) and not s.startswith("warning:"):
            refusal.append(s.strip())
        elif WARN_RE.search(s):
            # the "did not find weights" line is printed as "\n====== ...: did not find weights for X"
            warnings.append(s.strip())
    return warnings, refusal


def quantize_one(bin_dir, src, out, ty, imatrix_name):
    cmd = [bin_dir / "llama-quantize"]
    if imatrix_name:
        cmd += ["--imatrix", imatrix_name]
    cmd += [src, out, ty, "2"]
    if out.exists():
        out.unlink()
    rc, stdout, stderr = run(cmd, cwd=IMATRIX_DIR)
    # no scratch paths in the record
    stdout = stdout.replace(str(out), "OUT").replace(str(src), "INPUT")
    stderr = stderr.replace(str(out), "OUT").replace(str(src), "INPUT")
    warnings, refusal = log_lines(stderr)
    e = {"exit": rc, "written": out.exists()}
    if rc != 0:
        e["refusal"] = refusal
    if warnings:
        e["warnings"] = warnings
    im_lines = [ln.strip() for ln in stdout.splitlines() if "imatrix" in ln and ln.startswith(("load_imatrix", "prepare_imatrix"))]
    if im_lines:
        e["stdout_imatrix"] = im_lines
    if rc == 0 and out.exists():
        kv, tensors, data_sha = read_gguf_header(out)
        e["sha256"] = sha(out)
        e["bytes"] = out.stat().st_size
        e["tensor_data_sha256"] = data_sha
        e["general.file_type"] = kv.get("general.file_type")
        qkv = {k: v for k, v in kv.items() if k.startswith("quantize.")}
        if qkv:
            e["quantize_kv"] = qkv
        e["tensors"] = [[n, type_name(t)] for n, t in tensors]
        counts = {}
        for _n, t in tensors:
            counts[type_name(t)] = counts.get(type_name(t), 0) + 1
        e["type_counts"] = dict(sorted(counts.items()))
    return e


def short_reason(e):
    text = " ".join(e.get("refusal", []))
    for key, why in (("requires an imatrix", "requires an imatrix"), ("no tensor type fallback", "no tensor type fallback"),
                     ("invalid ftype", "invalid ftype (not in QUANT_OPTIONS)")):
        if key in text:
            return why
    return text[:80]


def summarize(runs, types):
    out = {}
    for ty in types:
        out[ty] = {}
        for m, r in runs.items():
            p, i = r[ty]["plain"], r[ty]["imatrix"]
            row = ["ok" if e["exit"] == 0 else "refused: " + short_reason(e) for e in (p, i)]
            if p.get("tensors") and i.get("tensors"):
                row.append("types same" if p["tensors"] == i["tensors"] else "types differ")
                row.append("data same" if p["tensor_data_sha256"] == i["tensor_data_sha256"] else "data differ")
            out[ty][m] = row
    return out


def groups_by(runs_of_model, variant):
    g = {}
    for ty, r in runs_of_model.items():
        e = r[variant]
        if e["exit"] == 0:
            g.setdefault(e["tensor_data_sha256"], []).append(ty)
    return list(g.values())


def dump(obj, indent=0):
    """JSON with dicts indented and every list whose items are scalars or flat lists on one line."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        flat = all(not isinstance(x, (dict, list)) or (isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x))
                   for x in obj)
        if flat:
            return json.dumps(obj, ensure_ascii=False)
        return "[\n" + ",\n".join(f"{pad} {dump(x, indent + 1)}" for x in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="/opt/lq-build/bin", help="folder with llama-quantize (llama.cpp 0c1e570)")
    ap.add_argument("--rwkv-convert", default=str(ROOT / "target" / "release" / "rwkv-convert"))
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")
    ap.add_argument("--check-determinism", action="store_true",
                    help="quantize every written file a second time and require the same sha256")
    ap.add_argument("--work", help="scratch folder (default: a new temp folder, removed at the end)")
    a = ap.parse_args()
    bin_dir = Path(a.bin).resolve()
    ours = Path(a.rwkv_convert).resolve()
    if not a.no_build:
        rc, out, err = run(["cargo", "build", "--release"], cwd=ROOT)
        assert rc == 0, err
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="rwkv-ftypes-"))
    work.mkdir(parents=True, exist_ok=True)

    cli = cli_type_list(bin_dir)
    types = [r["name"] for r in cli["types"]] + [t for t in EXTRA_TYPES if t not in {r["name"] for r in cli["types"]}]

    result = {
        "description": "llama-quantize (llama.cpp %s) on the golden RWKV-7/RWKV-6 BF16 GGUFs for every file type, "
                       "without and with an importance matrix (see golden/gguf/README.md, section ftypes.json)" % COMMIT[:7],
        "regenerate": "cargo build --release && /opt/llamaenv/bin/python golden/gguf/make_ftypes_golden.py",
        "llama_cpp": COMMIT + " (llama-cpp-python 0.3.36 sdist, vendor/llama.cpp)",
        "llama_quantize_sha256": sha(bin_dir / "llama-quantize"),
        "commands": {
            "plain": "llama-quantize INPUT OUT TYPE 2",
            "imatrix": "cd golden/gguf/imatrix && llama-quantize --imatrix NAME.imatrix.gguf INPUT OUT TYPE 2",
        },
        "fields": {
            "exit": "llama-quantize exit status", "written": "whether OUT exists afterwards",
            "refusal": "stderr lines of the error (only when exit != 0)",
            "warnings": "stderr warning lines (type fallbacks, 'did not find weights', the fallback count), in order",
            "stdout_imatrix": "llama-quantize's own imatrix lines on stdout",
            "sha256/bytes": "of OUT", "general.file_type": "as written in OUT",
            "tensor_data_sha256": "sha256 of OUT's tensor data section (aligned end of the header .. end of file): "
                                  "equal for plain and imatrix when the imatrix changed no tensor byte (the file "
                                  "sha256 always differs then: the imatrix run adds quantize.imatrix.* keys)",
            "quantize_kv": "the quantize.* keys llama-quantize adds (imatrix runs)",
            "tensors": "[tensor name, ggml type name] in OUT's file order",
            "type_counts": "number of tensors per ggml type",
        },
        "cli_type_list": cli,
        "extra_types_tried": {t: "has a LLAMA_FTYPE in include/llama.h but is not in tools/quantize/quantize.cpp QUANT_OPTIONS"
                              for t in EXTRA_TYPES},
        "models": {},
        "runs": {},
    }

    for m in MODELS:
        src = work / f"{m}.bf16.gguf"
        rc, out, err = run([ours, "convert", ROOT / "golden" / f"{m}.pth", "--to", "gguf", src, "--outtype", "bf16",
                            "--name", f"{m.split('-')[0]} Bf16", "--tokenizer", "world"], cwd=ROOT)
        assert rc == 0, out + err
        want = json.loads((HERE / f"{m}.bf16.json").read_text())["sha256"]
        assert sha(src) == want, f"{m}: not llama.cpp's converter bytes"
        im = IMATRIX_DIR / f"{m}.imatrix.gguf"
        _kv, tensors, _d = read_gguf_header(src)
        result["models"][m] = {
            "input": f"rwkv-convert convert golden/{m}.pth --to gguf INPUT --outtype bf16 --name \"{m.split('-')[0]} Bf16\" --tokenizer world",
            "input_sha256": want, "input_bytes": src.stat().st_size,
            "input_tensors": [[n, type_name(t)] for n, t in tensors],
            "imatrix": f"golden/gguf/imatrix/{m}.imatrix.gguf", "imatrix_sha256": sha(im),
        }
        runs = {}
        for ty in types:
            runs[ty] = {}
            for variant, im_name in (("plain", None), ("imatrix", im.name)):
                outp = work / f"{m}.{ty}.{variant}.gguf"
                e = quantize_one(bin_dir, src, outp, ty, im_name)
                if a.check_determinism and e.get("sha256"):
                    e2 = quantize_one(bin_dir, src, work / f"{m}.{ty}.{variant}.again.gguf", ty, im_name)
                    assert e2.get("sha256") == e["sha256"], (m, ty, variant)
                runs[ty][variant] = e
                print(m, ty, variant, e["exit"], e.get("type_counts", e.get("refusal", ""))[:200] if not e.get("type_counts") else e["type_counts"], flush=True)
            for f in work.glob(f"{m}.{ty}.*.gguf"):
                f.unlink()
        result["runs"][m] = runs
    if a.check_determinism:
        result["determinism"] = "every written file was made twice: identical sha256"
    result["summary"] = summarize(result["runs"], types)
    result["same_tensor_data"] = {
        m: {v: [g for g in groups_by(r, v) if len(g) > 1] for v in ("plain", "imatrix")}
        for m, r in result["runs"].items()}
    result["same_tensor_data_legend"] = ("file types whose outputs have identical tensor data (tensor_data_sha256); "
                                         "such files differ at most in their KVs (general.file_type)")
    result["summary_legend"] = (
        "per type and model: [plain, imatrix] each 'ok' or 'refused: <reason>'; then "
        "'types same'/'types differ' (per-tensor ggml types, plain vs imatrix) and "
        "'data same'/'data differ' (tensor_data_sha256), when both were written")

    # summary first, the per-run records last
    order = [k for k in result if k not in ("summary_legend", "summary", "same_tensor_data_legend", "same_tensor_data",
                                            "models", "runs")]
    order += ["summary_legend", "summary", "same_tensor_data_legend", "same_tensor_data", "models", "runs"]
    result = {k: result[k] for k in order}
    OUT_JSON.write_text(dump(result) + "\n")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print("wrote", OUT_JSON, os.path.getsize(OUT_JSON), "bytes")


if __name__ == "__main__":
    main()
