#!/usr/bin/env python3
"""Read every GGUF rwkv-convert writes with the `gguf` PyPI package (gguf-py, llama.cpp's own
reader), for every RWKV version in golden/ and every float output type, plus the quantized types.

    pip install gguf==0.19.0 && cargo build --release && python3 scripts/check_gguf_with_gguf_py.py

Exits non-zero if gguf-py cannot read a file or sees other tensors than our own reader.
"""
import os
import subprocess
import sys
import tempfile

import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rwkv-convert")
MODELS = ["v4-bf16", "v5.0-bf16", "v5.1-bf16", "v5.2-bf16", "v6-bf16", "v7-bf16", "v7-fp32"]


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for m in MODELS:
            for outtype in ["f32", "f16", "bf16"]:
                out = os.path.join(tmp, f"{m}.{outtype}.gguf")
                subprocess.run([BIN, "convert", os.path.join(ROOT, "golden", f"{m}.pth"), "--to", "gguf", out,
                                "--outtype", outtype, "--tokenizer", "world"], check=True, capture_output=True)
                files = [out]
                if outtype == "bf16":
                    for q in ["Q8_0", "Q4_K_M", "IQ3_M", "Q2_K", "Q3_K_M", "IQ4_XS", "TQ1_0", "TQ2_0"]:
                        qo = out.replace(".gguf", f".{q}.gguf")
                        subprocess.run([BIN, "quantize", out, qo, q], check=True, capture_output=True)
                        files.append(qo)
                for f in files:
                    try:
                        r = gguf.GGUFReader(f)
                        arch = r.fields["general.architecture"].contents()
                        types = sorted({t.tensor_type.name for t in r.tensors})
                        print(f"ok   {os.path.basename(f):34} arch={arch:6} tensors={len(r.tensors):3} types={','.join(types)}")
                    except Exception as e:  # noqa: BLE001 - report any reader failure
                        failures += 1
                        print(f"FAIL {os.path.basename(f)}: {e}")
    print(f"gguf {gguf.__version__ if hasattr(gguf, '__version__') else ''}: {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
