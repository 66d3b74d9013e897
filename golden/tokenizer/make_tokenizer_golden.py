#!/usr/bin/env python3
"""Golden data for the RWKV World tokenizer, produced by the official implementation.

Truth comes from `rwkv.rwkv_tokenizer.TRIE_TOKENIZER` in the PyPI package rwkv==0.8.32
(see requirements.txt), loaded with the vocabulary file shipped inside that wheel.
The script checks that this file is byte-identical to convert/vocab/rwkv_vocab_v20230424.txt.

Run from anywhere:

    python3 golden/tokenizer/make_tokenizer_golden.py [--lambada PATH] [--out PATH]

Writes golden/tokenizer/expected.json (deterministic: same inputs, same bytes).
LAMBADA is read from /work/shared/data/lambada_test.jsonl by default (BlinkDL's copy,
sha256 4aa8d02c...); it is never copied into the repository, only token counts,
hashes and the target ids are stored.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REF_VOCAB = os.path.join(REPO, "convert", "vocab", "rwkv_vocab_v20230424.txt")
CORPUS = os.path.join(HERE, "corpus.txt")
DEFAULT_LAMBADA = "/work/shared/data/lambada_test.jsonl"

VOCAB_SHA256 = "8324476023347dec2964625ccb2075c864d250a9c6d9a74f36daba628de8c008"
LAMBADA_SHA256 = "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226"
RWKV_VERSION = "0.8.32"


def sha256_hex(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def ids_hash16(ids) -> str:
    """First 16 hex chars of sha256 over the ids packed as little-endian uint32."""
    return sha256_hex(struct.pack(f"<{len(ids)}I", *ids))[:16]


# ----------------------------------------------------------------------------------------
# An independent re-implementation of "greedy longest match over bytes", used only as a
# cross-check of the official results (it never produces stored data).
class IndependentGreedy:
    def __init__(self, token2idx):
        self.vocab = dict(token2idx)
        self.prefixes = set()
        for tok in self.vocab:
            for n in range(1, len(tok) + 1):
                self.prefixes.add(tok[:n])

    def encode(self, data: bytes):
        out, i, n = [], 0, len(data)
        while i < n:
            best, j = None, i + 1
            while j <= n and data[i:j] in self.prefixes:
                if data[i:j] in self.vocab:
                    best = j
                j += 1
            if best is None:
                raise ValueError(f"no token at byte {i}")
            out.append(self.vocab[data[i:best]])
            i = best
        return out


# ----------------------------------------------------------------------------------------
# Handcrafted str cases: (name, text). Order is the stored order.
def edge_cases():
    C = []
    add = lambda name, text: C.append((name, text))
    add("empty", "")
    add("single_space", " ")
    add("single_newline", "\n")
    add("single_a", "a")
    add("nul", "\x00")
    add("del", "\x7f")
    add("all_ascii_0_127", "".join(chr(c) for c in range(128)))
    add("all_ascii_127_0", "".join(chr(c) for c in reversed(range(128))))
    add("ascii_printable_spaced", " ".join(chr(c) for c in range(33, 127)))
    add("lf_lf", "\n\n")
    add("crlf", "\r\n")
    add("crlf_crlf", "\r\n\r\n")
    add("cr", "\r")
    add("cr_cr_lf", "\r\r\n")
    add("lf_cr", "\n\r")
    add("text_crlf_text", "line one\r\nline two\r\n\r\nline four")
    add("text_lf_text", "line one\nline two\n\nline four")
    add("tab_lf_space", "\t\n ")
    add("spaces_newline_indent", "fn x() {\n    let y = 1;\n        z\n}\n")
    add("long_whitespace_mixed", " \t\n\r\x0b\x0c" * 20)
    add("spaces_1000", " " * 1000)
    add("newlines_100", "\n" * 100)
    add("crlf_x50", "\r\n" * 50)
    # greedy longest match vs. shorter-first / optimal / right-to-left segmentations
    add("greedy_understand", "understand")
    add("greedy_misunderstanding", "misunderstanding")
    add("greedy_therapist", "therapist")
    add("greedy_nowhere", "nowhere")
    add("greedy_notable", "notable")
    add("greedy_island", "island")
    add("greedy_Manslaughter", "Manslaughter")
    add("greedy_Pineapple", "Pineapple")
    add("greedy_wherever", "wherever")
    add("greedy_toothpaste", "toothpaste")
    # trie walks deep past the last complete token and must fall back
    add("backoff_slashdash", "//" + "-" * 63)
    add("backoff_slashdash_plus1", "//" + "-" * 64)
    add("backoff_space_equals", " " + "=" * 63)
    add("backoff_telecommunication", " telecommunicatio")
    add("backoff_OnClickListene", "OnClickListene")
    add("backoff_addEventListene", "addEventListene")
    add("backoff_notwithstandin", " notwithstandin")
    add("backoff_Unfortunatel", "Unfortunatel")
    add("backoff_MERCHANTABILIT", " MERCHANTABILIT")
    add("backoff_russian_prefix", " администрати")
    add("backoff_emdash_15_5", "\u2014" * 15 + "\u2013")
    add("longest_token_128_spaces", " " * 128)
    add("spaces_129", " " * 129)
    add("dashes_81", "-" * 81)
    # U+0080..U+00FF (str literal gotcha: '\x80' in the vocab is U+0080 = C2 80)
    add("u0080", "\u0080")
    add("u0080_x3", "\u0080" * 3)
    add("u00ff", "\u00ff")
    add("u00e9_precomposed", "\u00e9")
    add("e_combining_acute", "e\u0301")
    add("latin1_range", "".join(chr(c) for c in range(0x80, 0x100)))
    add("nbsp_between_words", "a\u00a0b\u00a0\u00a0c")
    # emoji
    add("emoji_lone", "\U0001F600")
    add("emoji_crab", "\U0001F980")
    add("emoji_zwj_family", "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466")
    add("emoji_flag_us", "\U0001F1FA\U0001F1F8")
    add("emoji_flag_scotland", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F")
    add("emoji_skin_tone", "\U0001F44D\U0001F3FD")
    add("emoji_keycap", "1\ufe0f\u20e3")
    add("emoji_heart_vs16", "\u2764\ufe0f")
    # CJK and other scripts
    add("cjk_single", "中")
    add("cjk_common_word", "中文")
    add("cjk_ext_b", "\U00020000\U0002A6A5")
    add("cjk_ext_g", "\U00030000")
    add("hangul", "한국어")
    add("hangul_jamo_decomposed", "\u1112\u1161\u11ab")
    add("japanese_mixed", "東京タワーとｺﾝﾋﾟｭｰﾀｰ")
    add("arabic", "مرحبا بالعالم")
    add("hebrew_niqqud", "בְּרֵאשִׁית")
    add("hindi", "नमस्ते दुनिया")
    add("thai", "สวัสดีครับ")
    add("mixed_scripts", "Hello世界مرحبا Привет שלום नमस्ते 🌍!")
    # special code points
    add("bom_start", "\ufeffhello")
    add("replacement_char", "\ufffd")
    add("max_code_point", "\U0010FFFF")
    add("private_use", "\ue000\U000F0000")
    add("noncharacters", "\ufdd0\ufffe\uffff")
    add("line_para_separators", "a\u2028b\u2029c\u0085d")
    add("zero_width", "a\u200bb\u200cc\u200dd\u2060e")
    # plain-text look-alikes of special tokens: no special handling in the tokenizer
    add("endoftext_literal", "<|endoftext|>")
    add("chat_template_literal", "User: hi\n\nAssistant:")
    # numbers
    add("digits", "0123456789")
    add("number_big", "1234567890123456789012345678901234567890")
    add("number_grouped", "1,000,000.00 and 3.14159 and -2e-10")
    add("space_number", " 2024")
    add("leading_space_words", " the The THE  the\tthe\nthe")
    return C


# Raw byte inputs through encodeBytes (not expressible as str: invalid UTF-8 etc.).
def bytes_cases():
    B = []
    add = lambda name, data: B.append((name, data))
    add("byte_80", b"\x80")
    add("byte_ff", b"\xff")
    add("byte_fe_ff", b"\xfe\xff")
    add("all_bytes_0_255", bytes(range(256)))
    add("all_bytes_255_0", bytes(reversed(range(256))))
    add("truncated_2byte", b"caf\xc3")
    add("truncated_3byte", b"\xe4\xb8")
    add("truncated_4byte", b"\xf0\x9f\x98")
    add("lone_continuation", b"a\x80b")
    add("surrogate_encoded", b"\xed\xa0\x80")
    add("overlong_slash", b"\xc0\xaf")
    add("above_max_code_point", b"\xf4\x90\x80\x80")
    add("latin1_cafe", b"caf\xe9 cr\xe8me br\xfbl\xe9e")
    add("utf16le_bom_hi", b"\xff\xfeh\x00i\x00")
    add("emdash_15_then_partial", "\u2014".encode() * 15 + b"\xe2\x80")
    add("emoji_split_reversed", b"\x80\x98\x9f\xf0")
    return B


def build_decode_cases(tok):
    """Decoding cases whose byte output is (mostly) not valid UTF-8."""
    cases = []

    def add(name, ids):
        data = tok.decodeBytes(ids)
        try:
            data.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        cases.append({
            "name": name,
            "ids": ids,
            "bytes_hex": data.hex(),
            "valid_utf8": valid,
            "official_decode": tok.decode(ids),
        })

    v = tok.token2idx
    add("byte_80", [v[b"\x80"]])
    add("byte_ff", [v[b"\xff"]])
    add("u0080_token_is_valid", [v["\u0080".encode()]])
    add("first_byte_of_zhong", [v[b"\xe4"]])
    add("first_two_bytes_of_zhong", [v[b"\xe4\xb8"]])
    add("zhong_from_bytes", [v[b"\xe4\xb8"], v[b"\xad"]])
    add("emoji_lead_pair", [v[b"\xf0\x9f"]])
    add("emoji_from_three_tokens", [v[b"\xf0\x9f"], v[b"\x98"], v[b"\x80"]])
    add("emoji_missing_last_byte", [v[b"\xf0\x9f"], v[b"\x98"]])
    add("valid_then_lone_continuation", tok.encode("ok") + [v[b"\x80"]])
    add("two_lead_bytes", [v[b"\xe4"], v[b"\xe4"]])
    # streaming prefixes of real text that end in the middle of a character
    for name, text in [("prefix_cjk_ext_b", "\U0002A6A5"), ("prefix_scotland_flag",
                       "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"),
                       ("prefix_rare_cjk", "𠮷野家")]:
        ids = tok.encode(text)
        for k in range(1, len(ids)):
            add(f"{name}_{k}_of_{len(ids)}", ids[:k])
    # every vocabulary entry that is stored as a bytes literal (not valid UTF-8 alone)
    for i in sorted(tok.idx2token):
        b = tok.idx2token[i]
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            add(f"bytes_token_{i}", [i])
    return cases


def build_decode_error_cases(tok):
    """ids that decodeBytes cannot decode (it raises): id 0 and out-of-range ids."""
    out = []
    for ids in ([0], [1, 0, 2], [65530], [65535], [65536]):
        try:
            tok.decodeBytes(ids)
            err = None
        except Exception as e:  # record the exception type only
            err = type(e).__name__
        assert err is not None, ids
        out.append({"ids": ids, "error": err, "official_decode": tok.decode(ids)})
    return out


# ----------------------------------------------------------------------------------------
def dump_json(obj) -> str:
    """Stable, diff-friendly JSON: top-level keys one per line, list elements one per line."""
    def c(x):
        return json.dumps(x, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    keys = list(obj)
    for ki, k in enumerate(keys):
        v = obj[k]
        tail = "," if ki + 1 < len(keys) else ""
        if isinstance(v, list) and v and all(isinstance(e, int) for e in v):
            rows = [",".join(str(e) for e in v[i:i + 32]) for i in range(0, len(v), 32)]
            lines.append(f"  {c(k)}: [\n    " + ",\n    ".join(rows) + f"\n  ]{tail}")
        elif isinstance(v, list) and v:
            lines.append(f"  {c(k)}: [\n    " + ",\n    ".join(c(e) for e in v) + f"\n  ]{tail}")
        else:
            lines.append(f"  {c(k)}: {c(v)}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lambada", default=DEFAULT_LAMBADA)
    ap.add_argument("--out", default=os.path.join(HERE, "expected.json"))
    args = ap.parse_args()

    import rwkv
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

    rwkv_version = importlib.metadata.version("rwkv")
    assert rwkv_version == RWKV_VERSION, f"need rwkv=={RWKV_VERSION}, found {rwkv_version}"

    # The official tokenizer reads the vocab shipped in the wheel; our copy must be identical.
    wheel_vocab = os.path.join(os.path.dirname(rwkv.__file__), "rwkv_vocab_v20230424.txt")
    wheel_bytes = open(wheel_vocab, "rb").read()
    ref_bytes = open(REF_VOCAB, "rb").read()
    assert sha256_hex(wheel_bytes) == VOCAB_SHA256, "wheel vocab sha256 mismatch"
    assert ref_bytes == wheel_bytes, "convert/vocab copy differs from the wheel's file"

    tok = TRIE_TOKENIZER(wheel_vocab)
    assert len(tok.idx2token) == 65529 and min(tok.idx2token) == 1 and max(tok.idx2token) == 65529
    indep = IndependentGreedy(tok.token2idx)

    # vocab digest: for id 1..65529, u32le(len) || bytes
    vd = hashlib.sha256()
    for i in range(1, 65530):
        b = tok.idx2token[i]
        vd.update(struct.pack("<I", len(b)) + b)

    total_tokens = 0

    def enc(text):
        ids = tok.encode(text)
        data = text.encode("utf-8")
        assert tok.decodeBytes(ids) == data, repr(text[:60])
        assert tok.decode(ids) == text, repr(text[:60])
        assert indep.encode(data) == ids, repr(text[:60])
        return ids

    # corpus
    corpus_bytes = open(CORPUS, "rb").read()
    corpus = corpus_bytes.decode("utf-8")
    cases = []
    for n, para in enumerate(corpus.split("\n\n")):
        ids = enc(para)
        total_tokens += len(ids)
        cases.append({"name": f"corpus_paragraph_{n:03d}", "text": para, "ids": ids})
    n_corpus_cases = len(cases)
    corpus_ids = enc(corpus)
    total_tokens += len(corpus_ids)

    # handcrafted
    names = set()
    for name, text in edge_cases():
        assert name not in names, name
        names.add(name)
        ids = enc(text)
        total_tokens += len(ids)
        cases.append({"name": name, "text": text, "ids": ids})
    # whitespace/repeat runs around the lengths that have tokens
    runs = [(" ", range(1, 131)), ("\n", range(1, 21)), ("\t", range(1, 13)),
            ("-", range(1, 86)), ("=", range(1, 70)), ("#", range(1, 86)), ("*", range(1, 80))]
    n_run_cases = 0
    for ch, lens in runs:
        for k in lens:
            ids = enc(ch * k)
            total_tokens += len(ids)
            cases.append({"name": f"run_{ord(ch):02x}_x{k}", "text": ch * k, "ids": ids})
            n_run_cases += 1

    encode_bytes_cases = []
    for name, data in bytes_cases():
        ids = tok.encodeBytes(data)
        assert tok.decodeBytes(ids) == data
        assert indep.encode(data) == ids
        total_tokens += len(ids)
        encode_bytes_cases.append({"name": name, "bytes_hex": data.hex(), "ids": ids})

    decode_cases = build_decode_cases(tok)
    for d in decode_cases:
        assert tok.decodeBytes(d["ids"]).hex() == d["bytes_hex"]
    decode_error_cases = build_decode_error_cases(tok)

    # LAMBADA, split as in BlinkDL's evaluation code:
    #   [doc['text'].rsplit(' ', 1)[0], " " + doc['text'].rsplit(' ', 1)[1]]
    lam_bytes = open(args.lambada, "rb").read()
    lam_sha = sha256_hex(lam_bytes)
    assert lam_sha == LAMBADA_SHA256, f"unexpected LAMBADA file sha256 {lam_sha}"
    lambada = []
    lam_ctx_tokens = lam_tgt_tokens = 0
    for line in lam_bytes.split(b"\n"):
        if not line.strip():
            continue
        text = json.loads(line.decode("utf-8"))["text"]
        parts = text.rsplit(" ", 1)
        ctx, tgt = parts[0], " " + parts[1]
        idx = text.rfind(" ")
        assert ctx == text[:idx] and tgt == text[idx:]
        c_ids, t_ids, f_ids = tok.encode(ctx), tok.encode(tgt), tok.encode(text)
        assert tok.decodeBytes(c_ids + t_ids) == text.encode("utf-8")
        assert tok.decodeBytes(f_ids) == text.encode("utf-8")
        lam_ctx_tokens += len(c_ids)
        lam_tgt_tokens += len(t_ids)
        lambada.append({
            "n_ctx": len(c_ids),
            "n_tgt": len(t_ids),
            "ctx_sha256_16": ids_hash16(c_ids),
            "tgt": t_ids,
            "full_sha256_16": ids_hash16(f_ids),
        })
    assert len(lambada) == 5153

    out = {
        "format": 1,
        "about": "RWKV World tokenizer golden data from rwkv.rwkv_tokenizer.TRIE_TOKENIZER "
                 "(PyPI rwkv==0.8.32). See golden/tokenizer/README.md.",
        "vocab_file": "convert/vocab/rwkv_vocab_v20230424.txt",
        "vocab_sha256": VOCAB_SHA256,
        "vocab_entries": len(tok.idx2token),
        "vocab_digest_sha256": vd.hexdigest(),
        "vocab_digest_definition": "sha256 over id 1..65529 of u32le(len(token_bytes)) || token_bytes",
        "versions": {
            "python": "%d.%d.%d" % sys.version_info[:3],
            "rwkv": rwkv_version,
            "tokenizer": "rwkv.rwkv_tokenizer.TRIE_TOKENIZER",
        },
        "corpus_file": "golden/tokenizer/corpus.txt",
        "corpus_sha256": sha256_hex(corpus_bytes),
        "corpus_bytes": len(corpus_bytes),
        "corpus_paragraphs": n_corpus_cases,
        "corpus_ids_sha256_16": ids_hash16(corpus_ids),
        "corpus_ids": corpus_ids,
        "cases": cases,
        "encode_bytes_cases": encode_bytes_cases,
        "decode_cases": decode_cases,
        "decode_error_cases": decode_error_cases,
        "lambada_meta": {
            "source_file": "/work/shared/data/lambada_test.jsonl (not in the repo)",
            "sha256": lam_sha,
            "docs": len(lambada),
            "split": "ctx, tgt = text.rsplit(' ', 1)[0], ' ' + text.rsplit(' ', 1)[1]",
            "split_source": "BlinkDL/RWKV-LM RWKV-v7/rwkv_v7_demo_fast.py and "
                            "BlinkDL/ChatRWKV v2/benchmark.py ('Check LAMBADA')",
            "official_eval_prepends": "World/g models: src = [0] + encode(ctx); dst = encode(tgt)",
            "hash": "first 16 hex chars of sha256 of the ids packed as little-endian uint32",
            "total_ctx_tokens": lam_ctx_tokens,
            "total_tgt_tokens": lam_tgt_tokens,
        },
        "lambada": lambada,
    }
    text = dump_json(out)
    json.loads(text)  # well-formed
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)

    print(f"wrote {args.out}: {len(text.encode())} bytes")
    print(f"cases: {len(cases)} (corpus paragraphs {n_corpus_cases}, handcrafted "
          f"{len(cases) - n_corpus_cases - n_run_cases}, runs {n_run_cases}); "
          f"corpus whole: {len(corpus_ids)} tokens")
    print(f"encode_bytes_cases: {len(encode_bytes_cases)}, decode_cases: {len(decode_cases)} "
          f"({sum(not d['valid_utf8'] for d in decode_cases)} not valid UTF-8), "
          f"decode_error_cases: {len(decode_error_cases)}")
    print(f"total tokens in cases + corpus + byte cases: {total_tokens}")
    print(f"lambada: {len(lambada)} docs, {lam_ctx_tokens} ctx tokens, {lam_tgt_tokens} tgt tokens")
    print("all cases round-trip through decodeBytes/decode; independent greedy matcher agrees")


if __name__ == "__main__":
    main()
