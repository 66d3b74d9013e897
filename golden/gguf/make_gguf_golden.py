#!/usr/bin/env python3
"""llama.cpp's own RWKV conversion / loading / quantization, recorded as golden facts.

Pipeline (see README.md for the exact commands and versions):

  golden/v7-bf16.pth --(fla utils/convert_from_rwkv7.py --precision bf16)--> HF dir  v7-bf16/
  golden/v6-bf16.pth --(BBuf convert_rwkv6_checkpoint_to_hf.py: convert_state_dict + Rwkv6Config)--> HF dir v6-bf16/
  HF dir --(llama.cpp convert_hf_to_gguf.py --outtype f32|f16|bf16)--> NAME.OUTTYPE.gguf   -> NAME.OUTTYPE.json
  NAME.f32.gguf --(llama-cpp-python Llama(..., logits_all=True).eval(tokens))--> NAME.llamacpp.safetensors
  v7-bf16.{bf16,f16}.gguf (+ v6-bf16.bf16.gguf) --(llama_cpp.llama_model_quantize)--> quantized.json

Only hashes, metadata and small vectors are written into golden/gguf/; the GGUF files themselves stay
in --work.

Run inside the venv that has llama-cpp-python==0.3.36 and flash-linear-attention==0.6.0 installed:

  python golden/gguf/make_gguf_golden.py --llama-cpp DIR/vendor/llama.cpp --ext EXTDIR [--work /tmp/rwkv-gguf-golden]

EXTDIR must hold the two third-party converters (not committed here; see README.md for where to get them):
  convert_from_rwkv7.py                       fla-org/flash-linear-attention utils/convert_from_rwkv7.py
  convert_rwkv6_checkpoint_to_hf.py           BBuf/RWKV-World-HF-Tokenizer scripts/convert_rwkv6_checkpoint_to_hf.py
  configuration_rwkv6.py                      BBuf/RWKV-World-HF-Tokenizer rwkv6_model/configuration_rwkv6.py
  rwkv6_config_template.json                  BBuf/RWKV-World-HF-Tokenizer rwkv6_model/config.json
  rwkv6_generation_config.json                BBuf/RWKV-World-HF-Tokenizer rwkv6_model/generation_config.json
"""

import argparse
import ast
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.dirname(HERE)

EXT_FILES = {
    "convert_from_rwkv7.py": ("fla-org/flash-linear-attention", "bc3b101dcb713ddc5bd8924b66754eb68b5ccf89",
                              "utils/convert_from_rwkv7.py"),
    "convert_rwkv6_checkpoint_to_hf.py": ("BBuf/RWKV-World-HF-Tokenizer", "699270b345f2fae060a7aee1a31be4f6b2fecd36",
                                          "scripts/convert_rwkv6_checkpoint_to_hf.py"),
    "configuration_rwkv6.py": ("BBuf/RWKV-World-HF-Tokenizer", "699270b345f2fae060a7aee1a31be4f6b2fecd36",
                               "rwkv6_model/configuration_rwkv6.py"),
    "rwkv6_config_template.json": ("BBuf/RWKV-World-HF-Tokenizer", "699270b345f2fae060a7aee1a31be4f6b2fecd36",
                                   "rwkv6_model/config.json"),
    "rwkv6_generation_config.json": ("BBuf/RWKV-World-HF-Tokenizer", "699270b345f2fae060a7aee1a31be4f6b2fecd36",
                                     "rwkv6_model/generation_config.json"),
}

OUTTYPES = ["f32", "f16", "bf16"]

# ------------------------------------------------------------------ helpers


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd, log, env=None, cwd=None):
    t = time.time()
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    if r.returncode != 0:
        sys.stderr.write(open(log).read()[-4000:])
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return time.time() - t


@contextlib.contextmanager
def capture_fd2(path):
    """Redirect the process' fd 2 (llama.cpp logs there) into a file."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def dump_json(obj, path):
    """indent=1 JSON, but every element of a "kv" / "tensors" list on one line (keeps the files small and diffable)."""
    rows = {}

    def mark(o):
        if isinstance(o, dict):
            return {k: ([stash(x) for x in v] if k in ("kv", "tensors") or k.startswith("fallbacks") and isinstance(v, list) else mark(v))
                    for k, v in o.items()}
        if isinstance(o, list):
            return [mark(x) for x in o]
        return o

    def stash(x):
        key = f"@@ROW{len(rows)}@@"
        rows[key] = json.dumps(x, separators=(", ", ": "), ensure_ascii=True)
        return key

    text = json.dumps(mark(obj), indent=1, ensure_ascii=True)
    text = re.sub(r'"(@@ROW\d+@@)"', lambda m: rows[m.group(1)], text)
    with open(path, "w") as f:
        f.write(text + "\n")


# ------------------------------------------------------------------ GGUF reader (independent of gguf-py)

GGUF_T = {0: "UINT8", 1: "INT8", 2: "UINT16", 3: "INT16", 4: "UINT32", 5: "INT32", 6: "FLOAT32",
          7: "BOOL", 8: "STRING", 9: "ARRAY", 10: "UINT64", 11: "INT64", 12: "FLOAT64"}
SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# ggml type id -> (name, block elems, block bytes)
GGML_T = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
          7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
          12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 16: ("IQ2_XXS", 256, 66),
          17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18),
          21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 30: ("BF16", 1, 2)}

TENSOR_COLUMNS = ["name", "ggml_type", "ggml_type_id", "n_dims", "ne (ggml order, ne[0] innermost)",
                  "offset (from data section start)", "nbytes", "sha256 of the nbytes data bytes"]
LONG_ARRAY = 300  # arrays longer than this: length + sha256 of the serialized elements + first 300


class Buf:
    def __init__(self, b):
        self.b = b
        self.o = 0

    def take(self, n):
        v = self.b[self.o:self.o + n]
        assert len(v) == n
        self.o += n
        return v

    def unpack(self, fmt):
        n = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(n))[0]

    def string(self):
        n = self.unpack("<Q")
        return self.take(n)


def decode_str(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": raw.hex()}


def scalar_json(t, raw_bytes):
    v = struct.unpack(SCALAR_FMT[t], raw_bytes)[0]
    if t == 6:
        return {"value": float(v), "bits": "0x%08x" % struct.unpack("<I", raw_bytes)[0]}
    if t == 12:
        return {"value": float(v), "bits": "0x%016x" % struct.unpack("<Q", raw_bytes)[0]}
    if t == 7:
        return {"value": bool(v)}
    return {"value": int(v)}


def read_gguf(path, long_arrays="summary"):
    """long_arrays="summary": arrays > 300 entries -> len + sha256 of their serialized elements + first 300;
    "none": len + sha256 only, and strings > 2000 bytes only as len + sha256."""
    data = open(path, "rb").read()
    r = Buf(data)
    assert r.take(4) == b"GGUF"
    version = r.unpack("<I")
    n_tensors = r.unpack("<q")
    n_kv = r.unpack("<q")
    kvs = []
    alignment = 32
    for _ in range(n_kv):
        key = r.string().decode("utf-8")
        t = r.unpack("<i")
        ent = {"key": key, "type": GGUF_T[t]}
        if t == 8:
            raw = r.string()
            s = decode_str(raw)
            if len(raw) > 1000:
                ent.update({"len_bytes": len(raw), "sha256": sha256_bytes(raw)})
                if long_arrays == "summary":
                    ent["value"] = s
            else:
                ent["value"] = s
        elif t == 9:
            et = r.unpack("<i")
            n = r.unpack("<Q")
            start = r.o
            items = []
            for _i in range(n):
                if et == 8:
                    items.append(decode_str(r.string()))
                elif et == 9:
                    raise ValueError("nested arrays")
                else:
                    sz = struct.calcsize(SCALAR_FMT[et])
                    items.append(scalar_json(et, r.take(sz))["value"])
            ser = data[start:r.o]
            ent["elem_type"] = GGUF_T[et]
            ent["len"] = n
            if n > LONG_ARRAY:
                ent["sha256_serialized"] = sha256_bytes(ser)
                if long_arrays == "summary":
                    ent["first_300"] = items[:LONG_ARRAY]
            else:
                ent["value"] = items
        else:
            sz = struct.calcsize(SCALAR_FMT[t])
            ent.update(scalar_json(t, r.take(sz)))
        if key == "general.alignment":
            alignment = ent["value"]
        kvs.append(ent)
    tinfos = []
    for _ in range(n_tensors):
        name = r.string().decode("utf-8")
        nd = r.unpack("<I")
        ne = [r.unpack("<q") for _d in range(nd)]
        tt = r.unpack("<i")
        off = r.unpack("<Q")
        tinfos.append((name, nd, ne, tt, off))
    data_start = (r.o + alignment - 1) // alignment * alignment
    tensors = []
    for (name, nd, ne, tt, off) in tinfos:
        tname, blk, bsz = GGML_T[tt]
        nel = 1
        for x in ne:
            nel *= x
        assert ne[0] % blk == 0
        nbytes = nel // blk * bsz
        b = data[data_start + off:data_start + off + nbytes]
        assert len(b) == nbytes
        tensors.append([name, tname, tt, nd, ne, off, nbytes, sha256_bytes(b)])
    return {
        "sha256": sha256_bytes(data), "size": len(data), "gguf_version": version,
        "tensor_count": n_tensors, "kv_count": n_kv, "alignment": alignment,
        "data_section_start": data_start,
        "kv": kvs,
        "tensor_columns": TENSOR_COLUMNS,
        "tensors": tensors,
    }


def gguf_tensor_f32(path, name):
    """Dequantize one tensor with gguf-py (only used for cross-checks)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    rd = GGUFReader(path)
    for t in rd.tensors:
        if t.name == name:
            return dequantize(t.data, t.tensor_type)
    raise KeyError(name)


# ------------------------------------------------------------------ step 1: HF directories


def truncated_vocab(n_lines):
    """First n_lines lines of the World vocabulary (rwkv 0.8.32 wheel copy, CRLF -> LF)."""
    import rwkv
    p = os.path.join(os.path.dirname(rwkv.__file__), "rwkv_vocab_v20230424.txt")
    raw = open(p, "rb").read()
    lines = raw.split(b"\n")[:n_lines]
    out = b"".join(l.rstrip(b"\r") + b"\n" for l in lines)
    return out, {"source": "rwkv==0.8.32 wheel rwkv/rwkv_vocab_v20230424.txt", "source_sha256": sha256_bytes(raw),
                 "lines_kept": n_lines, "line_endings": "CRLF converted to LF", "sha256": sha256_bytes(out)}


def pth_shape(pth):
    import torch
    sd = torch.load(pth, map_location="cpu", weights_only=True)
    V, C = sd["emb.weight"].shape
    L = 0
    while f"blocks.{L}.ffn.key.weight" in sd:
        L += 1
    return int(V), int(C), L


def make_hf_v7(pth, out, ext, logdir):
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = [sys.executable, os.path.join(ext, "convert_from_rwkv7.py"), "--rwkv7", pth, "--output", out,
           "--precision", "bf16"]
    dt = run(cmd, os.path.join(logdir, "hf-v7.log"))
    V, _C, _L = pth_shape(pth)
    vb, vinfo = truncated_vocab(V - 1)
    open(os.path.join(out, "rwkv_vocab_v20230424.txt"), "wb").write(vb)
    return {"command": "python convert_from_rwkv7.py --rwkv7 golden/v7-bf16.pth --output WORK/hf/v7-bf16 --precision bf16",
            "seconds": round(dt, 1), "vocab": vinfo,
            "added_by_us": ["rwkv_vocab_v20230424.txt (first V-1 = 511 lines; llama.cpp requires this file and asserts vocab_size >= lines+1)"]}


def make_hf_v6(pth, out, ext):
    """RWKV org HF layout (Rwkv6ForCausalLM) as BBuf's convert_rwkv6_checkpoint_to_hf.py writes it.

    The script itself cannot run unmodified (hf_hub_download-only size table 169M..14B, and it imports
    transformers.modeling_utils.shard_checkpoint, removed in transformers 5), so its own
    `convert_state_dict` function is executed verbatim and the rest of its steps are repeated here.
    """
    import torch
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    src_path = os.path.join(ext, "convert_rwkv6_checkpoint_to_hf.py")
    tree = ast.parse(open(src_path).read())
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "convert_state_dict"]
    assert len(fn) == 1
    ns = {"re": re}
    exec(compile(ast.Module(body=fn, type_ignores=[]), src_path, "exec"), ns)
    convert_state_dict = ns["convert_state_dict"]

    spec = importlib.util.spec_from_file_location("configuration_rwkv6", os.path.join(ext, "configuration_rwkv6.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    V, C, L = pth_shape(pth)
    # step 2 of the script: Rwkv6Config(vocab_size, num_hidden_layers, hidden_size); save_pretrained
    config = mod.Rwkv6Config(vocab_size=V, num_hidden_layers=L, hidden_size=C)
    config.save_pretrained(out)
    cfg = json.load(open(os.path.join(out, "config.json")))
    # hub repos (and the template rwkv6_model/config.json) carry architectures + auto_map; llama.cpp needs
    # "architectures" to pick its Rwkv6Model class.
    tmpl = json.load(open(os.path.join(ext, "rwkv6_config_template.json")))
    cfg["architectures"] = tmpl["architectures"]
    cfg["auto_map"] = tmpl["auto_map"]
    cfg.pop("transformers_version", None)
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    # step 3/4: torch.load, convert_state_dict, one shard -> pytorch_model.bin
    sd = torch.load(pth, map_location="cpu", weights_only=True)
    sd = convert_state_dict(sd)
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    # the companion shell script copies rwkv6_model/generation_config.json
    shutil.copy(os.path.join(ext, "rwkv6_generation_config.json"), os.path.join(out, "generation_config.json"))
    vb, vinfo = truncated_vocab(V - 1)
    open(os.path.join(out, "rwkv_vocab_v20230424.txt"), "wb").write(vb)
    return {"command": "make_hf_v6() in this script: BBuf convert_state_dict() verbatim + Rwkv6Config(vocab_size=512, num_hidden_layers=2, hidden_size=128).save_pretrained + torch.save(pytorch_model.bin)",
            "config_edits": "added architectures=[\"Rwkv6ForCausalLM\"] and auto_map from rwkv6_model/config.json; dropped transformers_version; rewritten with sort_keys, indent 2",
            "vocab": vinfo,
            "not_copied": "rwkv5_world_tokenizer/{vocab.txt,tokenization_rwkv5.py,tokenizer_config.json} and the remote-code .py files (llama.cpp reads none of them)"}


def describe_dir(d):
    return {f: {"size": os.path.getsize(os.path.join(d, f)), "sha256": sha256_file(os.path.join(d, f))}
            for f in sorted(os.listdir(d))}


# ------------------------------------------------------------------ step 2: convert_hf_to_gguf


def convert(llama_src, hfdir, outtype, outfile, logdir):
    cmd = [sys.executable, os.path.join(llama_src, "convert_hf_to_gguf.py"), "--outtype", outtype,
           "--outfile", outfile, hfdir]
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)
    dt = run(cmd, os.path.join(logdir, os.path.basename(outfile) + ".log"), env=env, cwd=os.path.dirname(hfdir))
    return dt


# ------------------------------------------------------------------ step 3: llama.cpp logits


def llamacpp_logits(gguf_path, tokens, logfile):
    import llama_cpp
    res = {"token0_accepted": None}
    with capture_fd2(logfile):
        llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=64, n_batch=64, n_ubatch=64, logits_all=True,
                              n_threads=1, n_threads_batch=1, seed=0, verbose=True)
        n_vocab = llm.n_vocab()
        try:
            llm.reset()
            llm.eval(tokens)
            res["token0_accepted"] = True
            logits = np.array(llm.scores[:len(tokens)], dtype=np.float32, copy=True)
        except Exception as e:  # record and fall back to the sequence without the leading 0
            res["token0_accepted"] = False
            res["token0_error"] = repr(e)
            llm.reset()
            llm.eval(tokens[1:])
            logits = np.array(llm.scores[:len(tokens) - 1], dtype=np.float32, copy=True)
        # one token at a time, same state carried (recurrent memory)
        llm.reset()
        per_tok = []
        for t in tokens:
            llm.eval([t])
            per_tok.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32, copy=True))
        logits_tok = np.stack(per_tok)
        del llm
    res["n_vocab"] = n_vocab
    return logits, logits_tok, res


def v6_fp32_fold_check(tokens, llamacpp_st, official_st, work):
    """Run the official rwkv package (cpu fp32) on golden/v6-bf16.pth widened to fp32 in a subprocess."""
    code = r"""
import os, sys, json, torch, numpy as np
os.environ['RWKV_JIT_ON'] = '0'; os.environ['RWKV_CUDA_ON'] = '0'
torch.set_num_threads(1)
src, dst, toks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sd = torch.load(src, map_location='cpu', weights_only=True)
torch.save({k: v.float() for k, v in sd.items()}, dst)
from rwkv.model import RWKV
m = RWKV(model=dst, strategy='cpu fp32')
out, _ = m.forward(toks, None, full_output=True)
np.save(dst + '.npy', out.float().numpy())
"""
    dst = os.path.join(work, "v6-bf16-widened-fp32.pth")
    subprocess.run([sys.executable, "-c", code, os.path.join(GOLDEN, "v6-bf16.pth"), dst, json.dumps(tokens)],
                   check=True, capture_output=True)
    out = np.load(dst + ".npy")
    from safetensors.numpy import load_file
    ll = load_file(llamacpp_st)["logits_seq"]
    off = load_file(official_st)["logits_seq"]
    return {"what": "rwkv 0.8.32, strategy 'cpu fp32', on golden/v6-bf16.pth with every tensor widened to fp32 (so ln0 is folded in fp32)",
            "max_abs_diff_vs_llamacpp_f32": float(np.abs(out - ll).max()),
            "max_abs_diff_vs_official_bf16_file": float(np.abs(out - off).max())}


# ------------------------------------------------------------------ step 4: llama_model_quantize


def quant_jobs():
    import llama_cpp as L
    F = {
        "Q8_0": L.LLAMA_FTYPE_MOSTLY_Q8_0, "Q6_K": L.LLAMA_FTYPE_MOSTLY_Q6_K,
        "Q4_K_M": L.LLAMA_FTYPE_MOSTLY_Q4_K_M, "Q4_K_S": L.LLAMA_FTYPE_MOSTLY_Q4_K_S,
        "Q4_0": L.LLAMA_FTYPE_MOSTLY_Q4_0, "IQ3_XS": L.LLAMA_FTYPE_MOSTLY_IQ3_XS,
        "IQ3_M": L.LLAMA_FTYPE_MOSTLY_IQ3_M, "F16": L.LLAMA_FTYPE_MOSTLY_F16, "BF16": L.LLAMA_FTYPE_MOSTLY_BF16,
    }
    # (label, ftype, extra params, equivalent llama-quantize CLI arguments)
    jobs = [(k, F[k], {}, [k]) for k in ["Q8_0", "Q6_K", "Q4_K_M", "Q4_K_S", "Q4_0", "IQ3_XS", "IQ3_M", "F16", "BF16"]]
    jobs.append(("bf16-q8_0", F["Q8_0"], {"output_tensor_type": 30, "token_embedding_type": 30},
                 ["--output-tensor-type", "bf16", "--token-embedding-type", "bf16", "Q8_0"]))
    jobs.append(("f16-q8_0", F["Q8_0"], {"output_tensor_type": 1, "token_embedding_type": 1},
                 ["--output-tensor-type", "f16", "--token-embedding-type", "f16", "Q8_0"]))
    jobs.append(("Q4_K_M-pure", F["Q4_K_M"], {"pure": True}, ["--pure", "Q4_K_M"]))
    return jobs


def quantize(inp, out, ftype, extra, logfile, nthread=2):
    import llama_cpp as L
    p = L.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = nthread
    for k, v in extra.items():
        setattr(p, k, v)
    with capture_fd2(logfile):
        rc = L.llama_model_quantize(inp.encode(), out.encode(), ctypes_byref(p))
    return rc, {"nthread": nthread, "ftype": int(ftype), **{k: (int(v) if not isinstance(v, bool) else v) for k, v in extra.items()}}


def ctypes_byref(p):
    import ctypes
    return ctypes.byref(p)


# ------------------------------------------------------------------ main


def versions():
    import importlib.metadata as md
    v = {"python": sys.version.split()[0]}
    for pkg in ["llama_cpp_python", "gguf", "torch", "transformers", "flash-linear-attention", "fla-core",
                "numpy", "safetensors", "rwkv"]:
        try:
            v[pkg] = md.version(pkg)
        except Exception:
            v[pkg] = None
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", required=True, help="vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist")
    ap.add_argument("--ext", required=True, help="folder with the third-party converter files (see docstring)")
    ap.add_argument("--work", default="/tmp/rwkv-gguf-golden")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--check-determinism", action="store_true", help="convert/quantize everything twice and compare")
    ap.add_argument("--llama-quantize", help="optional llama-quantize binary built from the same sources: cross-check every quantized file")
    args = ap.parse_args()

    llama_src = os.path.abspath(args.llama_cpp)
    ext = os.path.abspath(args.ext)
    work = os.path.abspath(args.work)
    hfroot = os.path.join(work, "hf")
    ggufdir = os.path.join(work, "gguf")
    logdir = os.path.join(work, "logs")
    for d in (hfroot, ggufdir, logdir):
        os.makedirs(d, exist_ok=True)

    manifest = json.load(open(os.path.join(GOLDEN, "manifest.json")))
    tokens = manifest["tokens"]

    ext_info = {}
    for f, (repo, commit, path) in EXT_FILES.items():
        ext_info[f] = {"repo": repo, "commit": commit, "path": path, "sha256": sha256_file(os.path.join(ext, f))}

    llama_commit = None
    try:
        llama_commit = subprocess.run(["git", "-C", llama_src, "rev-parse", "HEAD"], capture_output=True,
                                      text=True).stdout.strip() or None
    except Exception:
        pass

    summary = {
        "description": "llama.cpp's own RWKV conversion, loading and quantization of golden/v7-bf16.pth and golden/v6-bf16.pth (see README.md)",
        "versions": versions(),
        "llama_cpp_src": {"commit": llama_commit, "convert_hf_to_gguf.py_sha256": sha256_file(os.path.join(llama_src, "convert_hf_to_gguf.py")),
                          "conversion/rwkv.py_sha256": sha256_file(os.path.join(llama_src, "conversion", "rwkv.py")),
                          "conversion/base.py_sha256": sha256_file(os.path.join(llama_src, "conversion", "base.py")),
                          "gguf-py": "vendored llama.cpp/gguf-py (convert_hf_to_gguf.py puts it first on sys.path unless NO_LOCAL_GGUF is set)"},
        "third_party_converters": ext_info,
        "tokens": tokens,
        "hf_dirs": {}, "gguf": {}, "logits": {}, "timings_s": {},
    }

    models = {"v7-bf16": os.path.join(GOLDEN, "v7-bf16.pth"), "v6-bf16": os.path.join(GOLDEN, "v6-bf16.pth")}

    # 1. HF dirs (fixed folder names: general.name is derived from them)
    for name, pth in models.items():
        d = os.path.join(hfroot, name)
        info = make_hf_v7(pth, d, ext, logdir) if name.startswith("v7") else make_hf_v6(pth, d, ext)
        info["files"] = describe_dir(d)
        summary["hf_dirs"][name] = info

    # 2. convert_hf_to_gguf
    for name in models:
        for ot in OUTTYPES:
            outfile = os.path.join(ggufdir, f"{name}.{ot}.gguf")
            dt = convert(llama_src, os.path.join(hfroot, name), ot, outfile, logdir)
            summary["timings_s"][f"convert {name} {ot}"] = round(dt, 1)
            desc = read_gguf(outfile)
            rec = {
                "file": f"{name}.{ot}.gguf",
                "produced_by": f"python vendor/llama.cpp/convert_hf_to_gguf.py --outtype {ot} --outfile {name}.{ot}.gguf WORK/hf/{name}   (cwd WORK/hf)",
                "hf_dir": f"WORK/hf/{name}",
                **desc,
            }
            if args.check_determinism:
                again = outfile + ".again"
                convert(llama_src, os.path.join(hfroot, name), ot, again, logdir)
                rec["determinism"] = {"second_run_sha256": sha256_file(again),
                                      "identical": sha256_file(again) == desc["sha256"]}
                os.remove(again)
            dump_json(rec, os.path.join(args.out, f"{name}.{ot}.json"))
            summary["gguf"][f"{name}.{ot}"] = {"sha256": desc["sha256"], "size": desc["size"]}

    # 3. logits through llama-cpp-python
    from safetensors.numpy import save_file, load_file
    for name in models:
        off = load_file(os.path.join(GOLDEN, f"{name}.official.safetensors"))
        ref = off["logits_seq"]
        ref_tok = off["logits_tok"]
        for ot in OUTTYPES:
            g = os.path.join(ggufdir, f"{name}.{ot}.gguf")
            logits, logits_tok, info = llamacpp_logits(g, tokens, os.path.join(logdir, f"{name}.{ot}.llama.log"))
            first = 0 if info["token0_accepted"] else 1
            d_seq = float(np.abs(logits - ref[first:]).max())
            d_tok = float(np.abs(logits_tok - ref_tok).max())
            d_self = float(np.abs(logits - logits_tok[first:]).max())
            info.update({
                "max_abs_diff_vs_official_logits_seq": d_seq,
                "max_abs_diff_tokenwise_vs_official_logits_tok": d_tok,
                "max_abs_diff_llamacpp_batch_vs_tokenwise": d_self,
                "argmax_agreement_vs_official": float((logits.argmax(-1) == ref[first:].argmax(-1)).mean()),
            })
            if ot == "f32":
                meta = {"golden": json.dumps({"model": g.split("/")[-1], "tokens": tokens,
                                               "api": "llama_cpp.Llama(model_path, n_ctx=64, n_batch=64, n_ubatch=64, logits_all=True, n_threads=1).eval(tokens); scores[:T]",
                                               "llama_cpp_python": summary["versions"]["llama_cpp_python"]})}
                p = os.path.join(args.out, f"{name}.llamacpp.safetensors")
                save_file({"logits_seq": logits}, p, metadata=meta)
                info["file"] = f"{name}.llamacpp.safetensors"
                info["sha256"] = sha256_file(p)
            summary["logits"][f"{name}.{ot}"] = info

    # 4. whole-file quantization
    qrec = {"description": "llama_cpp.llama_model_quantize(inp, out, params) on the converter's GGUFs; params = llama_model_quantize_default_params() with ftype/nthread (+ the listed fields) set",
            "llama_cpp_python": summary["versions"]["llama_cpp_python"], "files": {}}
    sources = [("v7-bf16", "bf16"), ("v7-bf16", "f16"), ("v6-bf16", "bf16")]
    qdir = os.path.join(work, "quant")
    os.makedirs(qdir, exist_ok=True)
    base_tokens = None
    for (name, ot) in sources:
        inp = os.path.join(ggufdir, f"{name}.{ot}.gguf")
        in_types = {t[0]: t[1] for t in read_gguf(inp)["tensors"]}
        for (label, ftype, extra, cli) in quant_jobs():
            outname = f"{name}.{ot}.{label}.gguf"
            out = os.path.join(qdir, outname)
            log = os.path.join(logdir, outname + ".log")
            t0 = time.time()
            rc, params = quantize(inp, out, ftype, extra, log)
            dt = time.time() - t0
            assert rc == 0, (outname, rc, open(log).read()[-2000:])
            desc = read_gguf(out, long_arrays="none")
            fallbacks, other_warnings = [], []
            for l in open(log, errors="replace"):
                mm = re.search(r"warning: (\S+)\s+- ncols\s+(\d+) not divisible by (\d+) \(required for type\s+(\S+)\) -> falling back to\s+(\S+)", l)
                if mm:
                    fallbacks.append([mm.group(1), mm.group(4), mm.group(5)])
                elif re.search(r"warn|error|imatrix", l, re.I):
                    other_warnings.append(l.strip())
            # rows: name, output type, input type, ne, offset, sha256
            trows = [[t[0], t[1], in_types.get(t[0]), t[4], t[5], t[7]] for t in desc["tensors"]]
            desc["tensor_columns"] = ["name", "ggml_type", "type in the input GGUF", "ne", "offset (from data section start)",
                                      "sha256 of the tensor data"]
            desc["tensors"] = trows
            counts = {}
            for t in trows:
                k = f"{t[2]}->{t[1]}"
                counts[k] = counts.get(k, 0) + 1
            qrec["files"][outname] = {
                "input": f"{name}.{ot}.gguf", "input_sha256": summary["gguf"][f"{name}.{ot}"]["sha256"],
                "label": label, "params": params, "seconds": round(dt, 2),
                "type_transitions": counts,
                "fallbacks (tensor, wanted, used) from llama.cpp's log": fallbacks,
                "other_log_warnings": sorted(set(other_warnings))[:20],
                **desc,
            }
            # does llama.cpp load it, and how far are its logits from the official ones?
            lg, _lt, linfo = llamacpp_logits(out, tokens, log + ".load")
            ref = load_file(os.path.join(GOLDEN, f"{name}.official.safetensors"))["logits_seq"]
            qrec["files"][outname]["llamacpp_load"] = {
                "loads_and_evals": True, "token0_accepted": linfo["token0_accepted"],
                "max_abs_diff_vs_official_logits_seq": float(np.abs(lg - ref[0 if linfo["token0_accepted"] else 1:]).max())}
            if args.llama_quantize:
                # CLI form: llama-quantize [opts] in out TYPE nthread  (opts before the file names)
                out3 = out + ".cli"
                cmd = [args.llama_quantize] + cli[:-1] + [inp, out3, cli[-1], "2"]
                run(cmd, log + ".cli")
                qrec["files"][outname]["llama_quantize_cli"] = {
                    "args": " ".join(["llama-quantize"] + cli[:-1] + [f"{name}.{ot}.gguf", outname, cli[-1], "2"]),
                    "identical_to_api_output": sha256_file(out3) == desc["sha256"]}
                os.remove(out3)
            if args.check_determinism:
                out2 = out + ".again"
                quantize(inp, out2, ftype, extra, log + ".again", nthread=1)
                qrec["files"][outname]["determinism_nthread1_identical"] = sha256_file(out2) == desc["sha256"]
                os.remove(out2)
    dump_json(qrec, os.path.join(args.out, "quantized.json"))

    # 5. v6: is the llama.cpp-vs-official gap the package's bf16 ln0 fold (golden/README.md "Quirk")?
    summary["v6_ln0_fold_check"] = v6_fp32_fold_check(tokens, os.path.join(args.out, "v6-bf16.llamacpp.safetensors"),
                                                     os.path.join(GOLDEN, "v6-bf16.official.safetensors"), work)

    dump_json(summary, os.path.join(args.out, "summary.json"))
    print("done; GGUFs in", ggufdir, "and", qdir)


if __name__ == "__main__":
    main()
