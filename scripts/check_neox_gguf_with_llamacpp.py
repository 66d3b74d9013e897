#!/usr/bin/env python3
"""Does llama.cpp tokenize with the GPT-NeoX-20B tokenizer rwkv-convert embeds in a GGUF exactly
as Hugging Face `tokenizers` does with the original file?

    pip install gguf==0.19.0 llama-cpp-python==0.3.36 tokenizers==0.23.3
    cargo build --release && python3 scripts/check_neox_gguf_with_llamacpp.py [--lambada PATH]

llama.cpp does not load our `rwkv4` architecture, so the script copies every `tokenizer.*` key of
the GGUF that `convert` writes for golden/neox/v4-neox-bf16.pth into a vocab-only `gptneox` GGUF
(hyper-parameters from llama.cpp's own models/ggml-vocab-gpt-neox.gguf, given with --llama-vocab)
and tokenizes the golden corpus by paragraph and every LAMBADA context and target with it. The HF
file normalises text to NFC and matches its special tokens anywhere in the text; llama.cpp does
neither, so the text is NFC-normalised first and special tokens are parsed (`special=True`).
Exits non-zero on any difference.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unicodedata

import llama_cpp
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def value(field):
    t = GGUFValueType(field.types[0])
    if t == GGUFValueType.ARRAY:
        return [field.contents(i) for i in range(len(field.data))], t, GGUFValueType(field.types[1])
    return field.contents(), t, None


def vocab_only(ours, llama_vocab, out):
    ctrl, src = GGUFReader(llama_vocab), GGUFReader(ours)
    w = GGUFWriter(out, "gptneox")
    for k, f in ctrl.fields.items():
        if k.startswith("gptneox.") or k == "general.name":
            w.add_key_value(k, *value(f))
    for k, f in src.fields.items():
        if k.startswith("tokenizer."):
            w.add_key_value(k, *value(f))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lambada", default=os.path.join(ROOT, "..", "shared", "data", "lambada_test.jsonl"))
    ap.add_argument("--llama-vocab", default="/opt/src/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-gpt-neox.gguf")
    args = ap.parse_args()
    hf = Tokenizer.from_file(os.path.join(ROOT, "convert", "vocab", "20B_tokenizer.json"))
    texts = [p for p in open(os.path.join(ROOT, "golden", "tokenizer", "corpus.txt"), encoding="utf-8").read().split("\n\n") if p]
    for line in open(args.lambada, encoding="utf-8"):
        t = json.loads(line)["text"]
        cut = t.rfind(" ")
        texts += [t[:cut], t[cut:]]
    with tempfile.TemporaryDirectory() as tmp:
        ours, vocab = os.path.join(tmp, "neox.gguf"), os.path.join(tmp, "vocab.gguf")
        subprocess.run([os.path.join(ROOT, "target", "release", "rwkv-convert"), "convert",
                        os.path.join(ROOT, "golden", "neox", "v4-neox-bf16.pth"), "--to", "gguf", ours], check=True)
        pre = GGUFReader(ours).fields["tokenizer.ggml.pre"].contents()
        vocab_only(ours, args.llama_vocab, vocab)
        llm = llama_cpp.Llama(model_path=vocab, vocab_only=True, verbose=False)
        bad, ids = [], 0
        for x in texts:
            want = hf.encode(x, add_special_tokens=False).ids
            got = llm.tokenize(unicodedata.normalize("NFC", x).encode("utf-8"), add_bos=False, special=True)
            ids += len(want)
            if got != want:
                bad.append(x[:60])
        print(json.dumps({"texts": len(texts), "ids": ids, "pre": pre, "mismatches": len(bad), "examples": bad[:5]}))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
