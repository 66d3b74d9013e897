#!/usr/bin/env python3
"""Write a reference HF folder for golden/neox/v4-neox-bf16.pth (outside this repository), to try
check_hf_folder.py on something this project did not write:

    pip download transformers==4.46.3 --no-deps -d /tmp/t4whl
    /tmp/neoxg/bin/python golden/neox/make_reference_hf_folder.py OUT_DIR \
        --t4-wheel /tmp/t4whl/transformers-4.46.3-py3-none-any.whl [--dtype bf16|f32]

* weights: `convert_state_dict` of transformers 4.46.3's models/rwkv/convert_rwkv_checkpoint_to_hf.py, cut out
  of the wheel (sha256 pinned below) by AST and executed unchanged (it only renames: emb. -> embeddings.,
  blocks.0.ln0 -> blocks.0.pre_ln, att -> attention, ffn -> feed_forward, time_mix_k/v/r -> time_mix_key/value/
  receptance, prefix rwkv. on all but head.weight). The rest of that script (hub download, size tables,
  shard_checkpoint) does not run under transformers 5. The tensors are saved in the converter's order as
  model.safetensors (safetensors cannot alias, so head.weight is a copy of the tied embedding), in the
  checkpoint's dtype (bf16, as the converter's pytorch_model.bin) or, with --dtype f32, widened (as its
  push_to_hub form).
* config.json: transformers' RwkvConfig(vocab_size=50277, hidden_size=32, num_hidden_layers=2,
  attention_hidden_size=32, intermediate_size=128, context_length=1024).save_pretrained (the installed
  transformers), plus architectures ["RwkvForCausalLM"].
* tokenizer.json = convert/vocab/20B_tokenizer.json (copied bytes); tokenizer_config.json and
  special_tokens_map.json as listed in README.md.
"""
import argparse
import ast
import hashlib
import json
import re
import sys
import textwrap
import zipfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PTH = HERE / "v4-neox-bf16.pth"
TOKENIZER_JSON = REPO / "convert" / "vocab" / "20B_tokenizer.json"
T4_WHEEL_SHA256 = "a12ef6f52841fd190a3e5602145b542d03507222f2c64ebb7ee92e8788093aef"   # transformers-4.46.3 wheel
CONVERTER = "transformers/models/rwkv/convert_rwkv_checkpoint_to_hf.py"

TOKENIZER_CONFIG = {"add_prefix_space": False, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                    "unk_token": "<|endoftext|>", "tokenizer_class": "GPTNeoXTokenizer", "model_max_length": 1024}
SPECIAL_TOKENS_MAP = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}


def converter_function(wheel):
    data = Path(wheel).read_bytes()
    assert hashlib.sha256(data).hexdigest() == T4_WHEEL_SHA256, "not the transformers 4.46.3 wheel"
    with zipfile.ZipFile(wheel) as z:
        src = z.read(CONVERTER).decode("utf-8")
    fn = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef) and n.name == "convert_state_dict")
    code = textwrap.dedent(ast.get_source_segment(src, fn))
    g = {"re": re}
    exec(compile(code, CONVERTER, "exec"), g)
    return g["convert_state_dict"], hashlib.sha256(code.encode()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--t4-wheel", required=True)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    a = ap.parse_args()
    out = Path(a.out)
    if out.resolve().is_relative_to(REPO.resolve()):
        sys.exit("write the reference folder outside the repository")
    out.mkdir(parents=True, exist_ok=True)
    convert_state_dict, fn_sha = converter_function(a.t4_wheel)

    sd = torch.load(PTH, map_location="cpu", weights_only=True)
    sd = convert_state_dict(dict(sd))
    tensors = {}
    for k, v in sd.items():
        v = v.float() if a.dtype == "f32" else v
        tensors[k] = v.clone().contiguous()   # head.weight and rwkv.embeddings.weight: separate copies
    from safetensors.torch import save_file
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})

    from transformers import RwkvConfig
    cfg = RwkvConfig(vocab_size=50277, hidden_size=32, num_hidden_layers=2, attention_hidden_size=32,
                     intermediate_size=128, context_length=1024)
    cfg.architectures = ["RwkvForCausalLM"]
    cfg.save_pretrained(str(out))

    (out / "tokenizer.json").write_bytes(TOKENIZER_JSON.read_bytes())
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS_MAP, indent=2) + "\n")
    print(json.dumps(dict(out=str(out), converter=CONVERTER, converter_function_sha256=fn_sha,
                          dtype=a.dtype, tensors=list(tensors)), indent=1))


if __name__ == "__main__":
    main()
