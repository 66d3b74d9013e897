#!/usr/bin/env python3
"""What the official `rwkv` package (0.8.32, strategy `cpu fp32`) computes on the real torch files
in ../shared/fixtures, so tests can run those files against outside truth without committing them.

    pip install -r golden/requirements.txt && python golden/make_shared_fixture_logits.py

Writes golden/shared-fixtures/NAME.official.safetensors: `logits_seq` [T, V] (one forward over the
tokens) and `logits_tok` [T, V] (token by token), with the tokens in the metadata.
"""
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "fixtures"
# Byte-vocabulary model (256 tokens): the bytes of a short text.
FIXTURES = {"torch-zip64/rwkv6-1m-fp32.pth": list(b"In the beginning was the Word, and")}


def main():
    os.environ.update(RWKV_JIT_ON="0", RWKV_CUDA_ON="0")
    os.environ.pop("RWKV_RESCALE_LAYER", None)
    import torch
    from importlib.metadata import version as pkg_version
    from rwkv.model import RWKV
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    out = HERE / "shared-fixtures"
    out.mkdir(exist_ok=True)
    for rel, tokens in FIXTURES.items():
        path = SHARED / rel
        model = RWKV(str(path), "cpu fp32", verbose=False)
        assert model.RESCALE_LAYER == 0
        with torch.no_grad():
            seq, _ = model.forward(tokens, None, full_output=True)
            rows, state = [], None
            for t in tokens:
                o, state = model.forward([t], state)
                rows.append(o.float().reshape(-1).clone())
        meta = {"golden": json.dumps(dict(fixture=rel, strategy="cpu fp32", rwkv=pkg_version("rwkv"),
                                          torch=torch.__version__, tokens=tokens), sort_keys=True)}
        name = Path(rel).stem + ".official.safetensors"
        save_file({"logits_seq": seq.float().contiguous(), "logits_tok": torch.stack(rows).contiguous()},
                  str(out / name), metadata=meta)
        print(name, tuple(seq.shape), float((seq.float() - torch.stack(rows)).abs().max()))


if __name__ == "__main__":
    sys.exit(main())
