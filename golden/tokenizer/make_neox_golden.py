#!/usr/bin/env python3
"""Golden data for the GPT-NeoX-20B tokenizer of the RWKV-4 Pile models, produced by Hugging Face's
`tokenizers` (PyPI tokenizers==0.23.3, see the versions recorded in the output) from the file we
ship, convert/vocab/20B_tokenizer.json (RWKV/rwkv.cpp python/20B_tokenizer.json, the file
ChatRWKV's PIPELINE loads for Pile models).

    python3 golden/tokenizer/make_neox_golden.py [--lambada PATH] [--out PATH]

Writes golden/tokenizer/expected_neox.json (deterministic). The corpus is golden/tokenizer/corpus.txt,
whole and by paragraph ("\\n\\n"); LAMBADA is read from /work/shared/data/lambada_test.jsonl and
only token counts, hashes and target ids are stored, split as BlinkDL's evaluation splits it.
Encoding adds no special tokens (the evaluation prepends id 0 itself).
"""
import argparse
import hashlib
import json
import os
import platform
import struct
import unicodedata

import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOKENIZER = os.path.join(REPO, "convert", "vocab", "20B_tokenizer.json")
CORPUS = os.path.join(HERE, "corpus.txt")
LAMBADA_SHA256 = "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226"


def sha256_hex(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def ids_hash16(ids) -> str:
    """First 16 hex chars of sha256 over the ids packed as little-endian uint32."""
    return sha256_hex(struct.pack(f"<{len(ids)}I", *ids))[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lambada", default="/work/shared/data/lambada_test.jsonl")
    ap.add_argument("--out", default=os.path.join(HERE, "expected_neox.json"))
    args = ap.parse_args()
    tok = tokenizers.Tokenizer.from_file(TOKENIZER)
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids
    corpus = open(CORPUS, "rb").read().decode("utf-8")
    whole = enc(corpus)
    # The tokenizer normalizes to NFC first; decoding gives back that text exactly.
    assert tok.decode(whole, skip_special_tokens=False) == unicodedata.normalize("NFC", corpus)
    cases = []
    for i, p in enumerate(corpus.split("\n\n")):
        if p:
            cases.append({"name": f"corpus_paragraph_{i:03d}", "text": p, "ids": enc(p)})
    lam = open(args.lambada, "rb").read()
    assert sha256_hex(lam) == LAMBADA_SHA256, "unexpected LAMBADA file"
    lambada = []
    for line in lam.split(b"\n"):
        if not line.strip():
            continue
        text = json.loads(line.decode("utf-8"))["text"]
        ctx, tgt = text.rsplit(" ", 1)[0], " " + text.rsplit(" ", 1)[1]
        c, t = enc(ctx), enc(tgt)
        lambada.append({"n_ctx": len(c), "ctx_sha256_16": ids_hash16(c), "tgt": t})
    assert len(lambada) == 5153
    out = {
        "format": 1,
        "about": "GPT-NeoX-20B tokenizer golden data from Hugging Face tokenizers on convert/vocab/20B_tokenizer.json. "
                 "See golden/tokenizer/make_neox_golden.py.",
        "tokenizer_file": "convert/vocab/20B_tokenizer.json",
        "tokenizer_sha256": sha256_hex(open(TOKENIZER, "rb").read()),
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "versions": {"python": platform.python_version(), "tokenizers": tokenizers.__version__},
        "corpus_sha256": sha256_hex(corpus.encode("utf-8")),
        "decode": "decode(encode(text)) == NFC(text): the tokenizer's normalizer is NFC",
        "corpus_ids": whole,
        "cases": cases,
        "lambada_meta": {"sha256": LAMBADA_SHA256, "docs": len(lambada),
                         "split": "ctx, tgt = text.rsplit(' ', 1)[0], ' ' + text.rsplit(' ', 1)[1]"},
        "lambada": lambada,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{args.out}: {len(whole)} corpus ids, {len(cases)} paragraphs, {len(lambada)} LAMBADA docs")


if __name__ == "__main__":
    main()
