#!/usr/bin/env python3
"""Container edge cases written by torch itself, for the reader's tests (golden/containers/).

    pip install -r golden/requirements.txt && python golden/make_containers.py

Each file is a state dict that is *not* an RWKV model; `containers.json` lists, per file, every
tensor's dtype, shape and the sha256 of its values as a C-contiguous little-endian array (what a
reader must produce, copying where the stored view is strided). `hostile-os-system.pth` is a real
attacker file: unpickling it with torch.load(weights_only=False) runs `touch <canary>`; this script
proves that in a throw-away directory, then records the canary path the file names.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "containers")
CANARY = "/tmp/rwkv-convert-hostile-canary"


def sha(t):
    return hashlib.sha256(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def describe(sd):
    return [{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "sha256": sha(v)}
            for k, v in sd.items()]


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {CANARY}",))


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    big = torch.randn(4, 6, generator=g)
    files = {}

    # Views sharing one storage: a transpose (strided), a row slice (offset), the base itself.
    sd = {"base": big, "transposed": big.t(), "rows": big[1:3], "column": big[:, 2], "scalar": torch.tensor(3.5),
          "empty": torch.zeros(0, 4), "bf16": big.to(torch.bfloat16), "f16": big.to(torch.float16),
          "f64": big.to(torch.float64), "i64": torch.arange(5), "i8": torch.arange(-3, 3, dtype=torch.int8),
          "flag": torch.tensor([True, False, True])}
    files["views.pth"] = sd
    torch.save(sd, os.path.join(OUT, "views.pth"))

    # Protocol 4 pickles (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
    sd4 = {"a": big.clone(), "b": big.t().clone()}
    files["protocol4.pth"] = sd4
    torch.save(sd4, os.path.join(OUT, "protocol4.pth"), pickle_protocol=4)

    # {name: Parameter}, as some research files are saved (_rebuild_parameter).
    sdp = {"w": torch.nn.Parameter(big.clone()), "b": torch.nn.Parameter(torch.ones(3))}
    files["parameters.pth"] = sdp
    torch.save(sdp, os.path.join(OUT, "parameters.pth"))

    # Legacy format with a strided view.
    files["views-legacy.pth"] = {"base": big, "transposed": big.t()}
    torch.save(files["views-legacy.pth"], os.path.join(OUT, "views-legacy.pth"), _use_new_zipfile_serialization=False)

    # A real attacker file, and proof that torch.load without weights_only executes it.
    hostile = os.path.join(OUT, "hostile-os-system.pth")
    torch.save({"w": big, "payload": Evil()}, hostile)
    with tempfile.TemporaryDirectory() as tmp:
        probe = f"""
import torch, os
try: os.remove({CANARY!r})
except FileNotFoundError: pass
torch.load({hostile!r}, weights_only=False)
print(os.path.exists({CANARY!r}))
"""
        out = subprocess.run([sys.executable, "-c", probe], cwd=tmp, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "True", f"the hostile file did not run its payload: {out}"
        os.remove(CANARY)

    manifest = {
        "torch": torch.__version__,
        "canary": CANARY,
        "hostile": {"file": "hostile-os-system.pth", "global": "posix.system",
                    "proof": "torch.load(weights_only=False) created the canary when this script ran"},
        "files": {name: describe(sd) for name, sd in files.items()},
    }
    with open(os.path.join(OUT, "containers.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
