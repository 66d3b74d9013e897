#!/usr/bin/env python3
"""Importance matrices against llama.cpp itself (golden/gguf/imatrix/):

1. which entries `llama-imatrix` records on the golden RWKV-6 and RWKV-7 GGUFs (names only);
2. what `llama-quantize --imatrix` writes, given the importance matrices that rwkv-convert made
   (committed here as *inputs*: `NAME.imatrix.gguf`), for the weighted file types, and which
   file types it refuses without one.

    python golden/gguf/make_imatrix_golden.py --bin /opt/lq-build/bin --rwkv-convert target/release/rwkv-convert

The GGUF inputs are made by `rwkv-convert convert --outtype bf16` and checked against the sha256 of
llama.cpp's own converter output recorded in golden/gguf/NAME.bf16.json, so they are llama.cpp's
bytes. The binaries are llama.cpp 0c1e570 (the sources vendored by llama-cpp-python 0.3.36), built
as golden/gguf/README.md says (`ninja llama-quantize llama-imatrix`).
"""
import argparse
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "imatrix"
TEXT = ROOT / "golden" / "tokenizer" / "corpus.txt"
MODELS = ["v6-bf16", "v7-bf16"]
# (model, llama-quantize type) made with the imatrix; the types that need one are also tried without.
WEIGHTED = [("v6-bf16", "Q4_K_M"), ("v6-bf16", "IQ3_M"), ("v6-bf16", "IQ3_XXS"), ("v6-bf16", "IQ4_NL"),
            ("v7-bf16", "Q4_K_M"), ("v7-bf16", "IQ3_M"), ("v7-bf16", "IQ3_XXS"), ("v7-bf16", "Q6_K")]
WITHOUT = [("v6-bf16", "IQ3_XXS"), ("v7-bf16", "IQ3_XXS")]


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    return p.returncode, p.stdout + p.stderr


def gguf_tensor_names(path):
    import gguf
    return [t.name for t in gguf.GGUFReader(str(path)).tensors]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder with llama-imatrix and llama-quantize")
    ap.add_argument("--rwkv-convert", required=True)
    a = ap.parse_args()
    bin_dir, ours = Path(a.bin), Path(a.rwkv_convert).resolve()
    OUT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp())
    result = {"llama_cpp": "0c1e57098bba43ac29e6e3b677cdceebdd22334f (llama-cpp-python 0.3.36 sdist)",
              "text": "golden/tokenizer/corpus.txt", "models": {}, "weighted": [], "without_imatrix": []}
    for m in MODELS:
        src = work / f"{m}.bf16.gguf"
        rc, log = run([ours, "convert", ROOT / "golden" / f"{m}.pth", "--to", "gguf", src, "--outtype", "bf16",
                        "--name", f"{m.split('-')[0]} Bf16", "--tokenizer", "world"])  # the name llama.cpp derives from its HF folder
        assert rc == 0, log
        want = json.loads((HERE / f"{m}.bf16.json").read_text())["sha256"]
        assert sha(src) == want, f"{m}: not llama.cpp's converter bytes"
        # What llama-imatrix records (64-token contexts: every product sees >= 16 rows).
        li = work / f"{m}.llama-imatrix.gguf"
        rc, log = run([bin_dir / "llama-imatrix", "-m", src, "-f", TEXT, "-o", li, "-c", "64", "-b", "64",
                       "--chunks", "8", "-t", "2", "--no-ppl"])
        assert rc == 0, log
        names = sorted({n.rsplit(".", 1)[0] for n in gguf_tensor_names(li)})
        # The input the quantizer gets: rwkv-convert's own importance matrix (committed).
        ours_im = OUT / f"{m}.imatrix.gguf"
        rc, log = run([ours, "imatrix", src, "--text", "golden/tokenizer/corpus.txt", "-o", ours_im, "--chunk", "64",
                       "--force"], cwd=ROOT)
        assert rc == 0, log
        result["models"][m] = {"gguf_sha256": want, "llama_imatrix_entries": names,
                               "rwkv_convert_imatrix_sha256": sha(ours_im)}
    for m, ty in WEIGHTED:
        out = work / f"{m}.{ty}.gguf"
        # Relative imatrix path: llama-quantize records it in `quantize.imatrix.file`.
        rc, log = run([bin_dir / "llama-quantize", "--imatrix", f"{m}.imatrix.gguf",
                       work / f"{m}.bf16.gguf", out, ty, "2"], cwd=OUT)
        entry = {"model": m, "type": ty, "exit": rc}
        if rc == 0:
            entry.update(sha256=sha(out), bytes=out.stat().st_size)
        else:
            entry["log_tail"] = log.strip().splitlines()[-3:]
        result["weighted"].append(entry)
    for m, ty in WITHOUT:
        out = work / f"{m}.{ty}.plain.gguf"
        rc, log = run([bin_dir / "llama-quantize", work / f"{m}.bf16.gguf", out, ty, "2"])
        result["without_imatrix"].append({"model": m, "type": ty, "exit": rc, "written": out.exists(),
                                          "says": [l for l in log.splitlines() if "imatrix" in l.lower()][:3]})
    (OUT / "imatrix.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1)[:3000])


if __name__ == "__main__":
    main()
