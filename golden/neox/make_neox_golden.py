#!/usr/bin/env python3
"""Regenerate golden/neox/: an RWKV-4 checkpoint with the GPT-NeoX-20B vocabulary (50277 rows) and what
outside code says about it. See README.md in this folder.

    /tmp/neoxg/bin/python golden/neox/make_neox_golden.py        (environment: see README.md)

Everything stored is computed by code this project did not write:
  * torch (2.15.0) builds and saves the checkpoint (module classes in BlinkDL's trainer key order, the same
    construction as golden/make_golden.py's RWKV-4 path, copied below with the shapes changed);
  * the official `rwkv` package (0.8.32, strategy 'cpu fp32', RWKV_JIT_ON=0, RWKV_CUDA_ON=0, one torch
    thread, one subprocess per checkpoint) computes every logit, the greedy continuation and LAMBADA;
  * Hugging Face `tokenizers` (0.23.3) encodes every text with convert/vocab/20B_tokenizer.json;
  * gguf-py (gguf 0.19.0) reads llama.cpp's own vocabulary file models/ggml-vocab-gpt-neox.gguf, and
    llama.cpp's `get_vocab_base_pre` (its source, cut out of conversion/base.py and executed unchanged) names
    the pre-tokenizer, using transformers' (5.23.0) AutoTokenizer.

Outputs (deterministic: a second run rewrites the same bytes):
  v4-neox-bf16.pth                    the checkpoint (head.weight IS emb.weight: one storage)
  v4-neox-bf16.official.safetensors   official logits on the fixed tokens (columns subset + full-row stats)
  expected.json                       versions, hashes, tokens, greedy, LAMBADA, gguf_vocab, gguf_pre, checks

Internal use: `--child PTH --job JOB.json --out OUT` is the subprocess entry point of the official runs.
"""

import argparse
import ast
import hashlib
import json
import math
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent          # golden/neox
REPO = HERE.parent.parent
TOKENIZER_JSON = REPO / "convert" / "vocab" / "20B_tokenizer.json"
LAMBADA = Path("/work/shared/data/lambada_test.jsonl")
LAMBADA_SHA256 = "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226"
LLAMA_CPP = Path("/opt/src/llama_cpp_python-0.3.36/vendor/llama.cpp")   # vendored llama.cpp @ 0c1e570
LLAMA_CPP_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
GGUF_VOCAB = LLAMA_CPP / "models" / "ggml-vocab-gpt-neox.gguf"
LLAMA_BASE_PY = LLAMA_CPP / "conversion" / "base.py"

NAME = "v4-neox-bf16.pth"
OFFICIAL = "v4-neox-bf16.official.safetensors"
EXPECTED = "expected.json"

# ---------------------------------------------------------------------------------------------------
# Shapes, seeds, init scales
# ---------------------------------------------------------------------------------------------------
C = 32           # n_embd (= dim_att)
L = 2            # n_layer
V = 50277        # GPT-NeoX-20B vocabulary: 50254 BPE tokens + 23 added space-run tokens
FFN = 128        # dim_ffn = 4C
GLOBAL_SEED = 20250101     # as make_golden.py (nn.* constructors draw from it; values are overwritten)
SEED = 1004                # make_golden.py uses 1000 + 4 for v4
EMB_STD = 0.5              # emb (= head, tied) ~ N(0, EMB_STD^2), as make_golden.py's emb
OUT_GAIN = 2.0             # att.output and ffn.value ~ N(0, (OUT_GAIN/sqrt(fan_in))^2): layers dominate the residual
MIX_JITTER, DECAY_JITTER, BONUS_JITTER = 0.02, 0.1, 0.1   # as make_golden.py

STRATEGY = "cpu fp32"

# Fixed tokens: 0, an English sentence (ids checked against the tokenizer), special / added / high ids.
SENTENCE_1 = "The quick brown fox jumps over the lazy dog."
SENTENCE_2 = " It was a bright cold day in April"
TOKENS = ([0] + [510, 3158, 8516, 30013, 27287, 689, 253, 22658, 4370, 15]      # SENTENCE_1
          + [50254, 1, 50276, 50000, 12345]
          + [733, 369, 247, 6627, 5412, 1388, 275, 4162])                   # SENTENCE_2
PROMPT = "In a shocking finding, scientists discovered"
N_GEN = 32
MIN_MARGIN = 1e-3

# Logit columns stored in full precision (the whole [24, 50277] matrix would be 4.8 MB, over the size
# budget): the first and last 1024 ids, every 37th id, and every fixed token. Every row is also summarised
# over ALL 50277 columns (logsumexp, sum, sum of squares in float64; max, argmax).
LOGIT_COLS = sorted(set(range(0, 1024)) | set(range(V - 1024, V)) | set(range(0, V, 37)) | set(TOKENS))


# ---------------------------------------------------------------------------------------------------
# Model (RWKV-4, BlinkDL RWKV-v4neo/src/model.py names and declaration order; copied from
# golden/make_golden.py: TimeMixV4, ChannelMixV4, Block, RWKV, with C/L/V/F changed and the head tied)
# ---------------------------------------------------------------------------------------------------


class Rng:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std, mean=0.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32) * std + mean

    def jitter(self, t, std):
        return t + self.normal(t.shape, std)


def set_(param, value):
    assert tuple(param.shape) == tuple(value.shape), (tuple(param.shape), tuple(value.shape))
    with torch.no_grad():
        param.copy_(value)


def linear(fan_in, fan_out, rng, gain=1.0):
    m = nn.Linear(fan_in, fan_out, bias=False)
    set_(m.weight, rng.normal((fan_out, fan_in), gain / math.sqrt(fan_in)))
    return m


def layernorm(dim, rng):
    m = nn.LayerNorm(dim)
    set_(m.weight, rng.normal((dim,), 0.1, mean=1.0))
    set_(m.bias, rng.normal((dim,), 0.1))
    return m


def ddd_vec(n_embd):
    ddd = torch.ones(1, 1, n_embd)
    for i in range(n_embd):
        ddd[0, 0, i] = i / n_embd
    return ddd


def ratios(layer_id, n_layer):
    return layer_id / (n_layer - 1), 1.0 - (layer_id / n_layer)


class TimeMixV4(nn.Module):  # RWKV_TimeMix
    def __init__(self, layer_id, rng):
        super().__init__()
        A = C
        r01, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        decay_speed = torch.ones(A)
        for h in range(A):
            decay_speed[h] = -5 + 8 * (h / (A - 1)) ** (0.7 + 1.3 * r01)
        self.time_decay = nn.Parameter(rng.jitter(decay_speed, DECAY_JITTER))
        zigzag = torch.tensor([(i + 1) % 3 - 1 for i in range(A)]) * 0.5
        self.time_first = nn.Parameter(rng.jitter(torch.ones(A) * math.log(0.3) + zigzag, BONUS_JITTER))
        self.time_mix_k = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.time_mix_v = nn.Parameter(rng.jitter(torch.pow(ddd, r10) + 0.3 * r01, MIX_JITTER))
        self.time_mix_r = nn.Parameter(rng.jitter(torch.pow(ddd, 0.5 * r10), MIX_JITTER))
        self.key = linear(C, A, rng)
        self.value = linear(C, A, rng)
        self.receptance = linear(C, A, rng)
        self.output = linear(A, C, rng, gain=OUT_GAIN)


class ChannelMixV4(nn.Module):  # RWKV_ChannelMix
    def __init__(self, layer_id, rng):
        super().__init__()
        _, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        self.time_mix_k = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.time_mix_r = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.key = linear(C, FFN, rng)
        self.receptance = linear(C, C, rng)
        self.value = linear(FFN, C, rng, gain=OUT_GAIN)


class Block(nn.Module):
    def __init__(self, layer_id, rng):
        super().__init__()
        self.ln1 = layernorm(C, rng)
        self.ln2 = layernorm(C, rng)
        if layer_id == 0:
            self.ln0 = layernorm(C, rng)   # declared after ln1/ln2, as in the trainer
        self.att = TimeMixV4(layer_id, rng)
        self.ffn = ChannelMixV4(layer_id, rng)


class RWKV4(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.emb = nn.Embedding(V, C)
        set_(self.emb.weight, rng.normal((V, C), EMB_STD))
        self.blocks = nn.ModuleList([Block(i, rng) for i in range(L)])
        self.ln_out = layernorm(C, rng)
        self.head = nn.Linear(C, V, bias=False)
        self.head.weight = self.emb.weight      # tied: one Parameter


def build():
    torch.manual_seed(GLOBAL_SEED)
    model = RWKV4(Rng(SEED)).eval()
    return model.to(torch.bfloat16)             # round once to bf16 (as the trainers save)


def state_dict_tied(model):
    """The module's state_dict (trainer key order, `_metadata` kept) with head.weight set to the very
    tensor object of emb.weight, so the pickle references it twice and the zip holds one storage."""
    sd = model.state_dict()
    assert list(sd)[0] == "emb.weight" and list(sd)[-1] == "head.weight"
    assert sd["head.weight"].untyped_storage().data_ptr() == sd["emb.weight"].untyped_storage().data_ptr()
    sd["head.weight"] = sd["emb.weight"]        # same key position, same object
    return sd


# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    return sha256_bytes(Path(p).read_bytes())


def tensor_sha(t):
    return sha256_bytes(t.contiguous().view(torch.uint8).numpy().tobytes())


def lp_bytes(items):
    """u32 little-endian byte length, then the bytes, for each item; concatenated."""
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def pkg_versions():
    from importlib.metadata import version as v
    import numpy
    import safetensors
    import tokenizers
    out = dict(python=platform.python_version(), torch=torch.__version__, rwkv=v("rwkv"),
               tokenizers=tokenizers.__version__, numpy=numpy.__version__, safetensors=safetensors.__version__,
               gguf=v("gguf"))
    try:
        out["transformers"] = v("transformers")
        out["huggingface_hub"] = v("huggingface_hub")
    except Exception:  # noqa: BLE001
        out["transformers"] = None
    return out


def tokenizer():
    import tokenizers
    return tokenizers.Tokenizer.from_file(str(TOKENIZER_JSON))


def lambada_docs(tok):
    raw = LAMBADA.read_bytes()
    assert sha256_bytes(raw) == LAMBADA_SHA256, "unexpected LAMBADA file"
    docs = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        text = json.loads(line.decode("utf-8"))["text"]
        cut = text.rfind(" ")
        context, target = text[:cut], text[cut:]
        inp = [0] + tok.encode(context, add_special_tokens=False).ids
        tgt = tok.encode(target, add_special_tokens=False).ids
        docs.append((inp, tgt))
    assert len(docs) == 5153
    return docs


# ---------------------------------------------------------------------------------------------------
# Official package (subprocess)
# ---------------------------------------------------------------------------------------------------


def child_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("RWKV_"):
            del env[k]
    env.update(RWKV_JIT_ON="0", RWKV_CUDA_ON="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="")
    return env


def child_main(pth, job_path, out_path):
    torch.set_num_threads(1)
    from safetensors.torch import save_file
    from rwkv.model import RWKV as OfficialRWKV

    job = json.loads(Path(job_path).read_text())
    res = dict(env={k: v for k, v in sorted(os.environ.items()) if k.startswith("RWKV_")},
               torch_threads=torch.get_num_threads())
    t0 = time.time()
    model = OfficialRWKV(pth, STRATEGY, verbose=False)
    res.update(package_detected_version=float(model.version), rescale_layer=int(model.RESCALE_LAYER))
    assert model.RESCALE_LAYER == 0
    raw = torch.load(pth, map_location="cpu", weights_only=True)
    e, lw, lb = raw["emb.weight"], raw["blocks.0.ln0.weight"], raw["blocks.0.ln0.bias"]
    in_f32 = F.layer_norm(e.float(), (C,), weight=lw.float(), bias=lb.float())
    in_dtype = F.layer_norm(e, (C,), weight=lw, bias=lb).float()
    got = model.w["emb.weight"].float()
    res["ln0_fold"] = dict(
        precision="fp32" if torch.equal(got, in_f32) else ("file dtype" if torch.equal(got, in_dtype) else "unknown"),
        max_abs_diff_vs_fp32_fold=float((got - in_f32).abs().max()))
    res["head_is_emb_in_loaded_dict"] = raw["head.weight"] is raw["emb.weight"]
    with torch.no_grad():
        # 1. fixed tokens, one call, every position
        out, _ = model.forward(list(job["tokens"]), None, full_output=True)
        logits_seq = out.detach().float().clone().contiguous()
        # 2. greedy: the prompt in one forward, then one token at a time carrying the state
        out, state = model.forward(list(job["prompt"]), None)
        gen, margins = [], []
        for step in range(job["n_gen"]):
            lg = out.detach().float()
            top = torch.topk(lg, 2)
            assert int(top.indices[0]) == int(torch.argmax(lg))
            gen.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            if step + 1 < job["n_gen"]:
                out, state = model.forward([gen[-1]], state)
        res["greedy"] = dict(ids=gen, margins=margins)
        # 3. LAMBADA
        t1 = time.time()
        per_doc, n_tok = [], 0
        for inp, tgt in job["lambada"]:
            seq = inp + tgt[:-1]
            n_tok += len(seq)
            out, _ = model.forward(seq, None, full_output=True)
            rows = out.detach().float()[len(inp) - 1:len(inp) - 1 + len(tgt)]   # row j predicts seq[j + 1]
            lsm = torch.log_softmax(rows.double(), dim=-1)
            lp, correct = 0.0, 1
            for k, t in enumerate(tgt):
                lp += float(lsm[k, t])
                if int(torch.argmax(rows[k])) != t:
                    correct = 0
            per_doc.append([lp, correct])
        res["lambada"] = dict(per_doc=per_doc, input_tokens=n_tok, seconds=time.time() - t1)
    res["seconds"] = time.time() - t0
    save_file({"logits_seq": logits_seq}, out_path + ".safetensors")
    Path(out_path).write_text(json.dumps(res))


def run_children(jobs):
    """jobs: {tag: (pth, job_dict)}; runs all children in parallel (one torch thread each)."""
    procs = {}
    tmp = Path(tempfile.mkdtemp(prefix="neox_golden_"))
    for tag, (pth, job) in jobs.items():
        jp = tmp / (tag + ".job.json")
        jp.write_text(json.dumps(job))
        op = tmp / (tag + ".out.json")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(pth), "--job", str(jp), "--out", str(op)]
        procs[tag] = (subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True), op)
    results = {}
    from safetensors.torch import load_file
    for tag, (p, op) in procs.items():
        so, se = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"official child {tag} failed:\n{so}\n{se}")
        r = json.loads(op.read_text())
        r["logits_seq"] = load_file(str(op) + ".safetensors")["logits_seq"]
        results[tag] = r
    return results


# ---------------------------------------------------------------------------------------------------
# llama.cpp: vocab file and pre-tokenizer detection
# ---------------------------------------------------------------------------------------------------


def gguf_vocab(tok):
    import gguf
    r = gguf.GGUFReader(str(GGUF_VOCAB), "r")

    def field(key):
        return r.get_field(key)

    def sval(key):
        f = field(key)
        return None if f is None else bytes(f.parts[-1]).decode("utf-8")

    def uval(key):
        f = field(key)
        return None if f is None else int(f.parts[-1].tolist()[0])

    K = gguf.Keys.Tokenizer
    tf = field(K.LIST)
    all_tokens = [bytes(tf.parts[i]) for i in tf.data]
    types_f = field(K.TOKEN_TYPE)
    all_types = [int(types_f.parts[i].tolist()[0]) for i in types_f.data]
    mf = field(K.MERGES)
    merges = [bytes(mf.parts[i]) for i in mf.data]
    tokens, types = all_tokens[:V], all_types[:V]
    names = {int(t): t.name for t in gguf.TokenType}
    counts = {}
    for t in types:
        counts[names.get(t, str(t))] = counts.get(names.get(t, str(t)), 0) + 1
    # compare with the 20B tokenizer.json (HF tokenizers' view of it)
    ref_tokens = [tok.id_to_token(i).encode("utf-8") for i in range(V)]
    tj = json.loads(TOKENIZER_JSON.read_text(encoding="utf-8"))
    ref_merges = [(m if isinstance(m, str) else " ".join(m)).encode("utf-8") for m in tj["model"]["merges"]]
    tok_diff = [i for i in range(V) if tokens[i] != ref_tokens[i]]
    padding = all_tokens[V:]
    return dict(
        source=dict(file=str(GGUF_VOCAB.relative_to(LLAMA_CPP)), llama_cpp_commit=LLAMA_CPP_COMMIT,
                    file_sha256=sha256_file(GGUF_VOCAB), file_size=GGUF_VOCAB.stat().st_size,
                    reader="gguf-py (PyPI gguf) GGUFReader"),
        n_tokens_in_file=len(all_tokens),
        n_tokens_taken=V,
        padding_tokens=dict(count=len(padding), first=padding[0].decode() if padding else None,
                            last=padding[-1].decode() if padding else None,
                            types=sorted(set(all_types[V:]))),
        tokenizer_ggml_model=sval(K.MODEL),
        has_tokenizer_ggml_pre=field(K.PRE) is not None,
        tokenizer_ggml_pre=sval(K.PRE),
        bos_token_id=uval(K.BOS_ID), eos_token_id=uval(K.EOS_ID), unk_token_id=uval(K.UNK_ID),
        pad_token_id=uval(K.PAD_ID),
        n_merges=len(merges),
        tokens_sha256=sha256_bytes(lp_bytes(tokens)),
        token_types_sha256=sha256_bytes(struct.pack(f"<{V}i", *types)),
        merges_sha256=sha256_bytes(lp_bytes(merges)),
        hash_encoding="tokens/merges: for each item u32 little-endian byte length then its UTF-8 bytes, "
                      "concatenated; token types: the first 50277 as an i32 little-endian array",
        token_type_names={str(k): v for k, v in sorted(names.items())},
        token_type_counts=dict(sorted(counts.items())),
        token_types_of={str(i): types[i] for i in (0, 1, 2, 50254, 50276)},
        tokens_of={str(i): tokens[i].decode("utf-8") for i in (0, 1, 2, 50254, 50276)},
        tokens_equal_20B_tokenizer_json=not tok_diff,
        tokens_differing=tok_diff[:20],
        tokens_compare_note="tokenizer.json side: tokenizers.Tokenizer.id_to_token(i) for i < 50277 (added "
                            "tokens give their content)",
        merges_equal_20B_tokenizer_json=merges == ref_merges,
        n_merges_20B_tokenizer_json=len(ref_merges),
        other_keys=sorted(k for k in r.fields if not k.startswith("tokenizer.") and not k.startswith("GGUF.")),
    )


def load_get_vocab_base_pre():
    """Cut llama.cpp's `get_vocab_base_pre` out of conversion/base.py (by AST) and return it as a plain
    function, executed unchanged (its globals: hashlib.sha256 and a logger)."""
    import logging
    src = LLAMA_BASE_PY.read_text(encoding="utf-8")
    tree = ast.parse(src)
    fn = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "get_vocab_base_pre":
            fn = node
            break
    assert fn is not None
    code = ast.get_source_segment(src, fn)
    import textwrap
    code = textwrap.dedent(code)
    g = dict(sha256=hashlib.sha256, logger=logging.getLogger("hf-to-gguf"))
    exec(compile(code, str(LLAMA_BASE_PY), "exec"), g)
    # every `if chkhsh == "...": res = "..."` of the chain, in order
    chain = []
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "chkhsh":
            h = node.test.comparators[0].value
            assigned = [s.value.value for s in node.body if isinstance(s, ast.Assign)
                        and isinstance(s.targets[0], ast.Name) and s.targets[0].id == "res"]
            chain.append((h, assigned[0] if assigned else None, node.lineno))   # line in base.py
    chain.sort(key=lambda x: x[2])
    chktxt = None
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "chktxt":
            chktxt = node.value.value
    return g["get_vocab_base_pre"], chain, chktxt, code


def gguf_pre():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging
    from transformers import AutoTokenizer
    fn, chain, chktxt, code = load_get_vocab_base_pre()
    out = dict(source=dict(file=str(LLAMA_BASE_PY.relative_to(LLAMA_CPP)), llama_cpp_commit=LLAMA_CPP_COMMIT,
                           file_sha256=sha256_file(LLAMA_BASE_PY), function_sha256=sha256_bytes(code.encode()),
                           chain_length=len(chain)),
               chktxt_sha256=sha256_bytes(chktxt.encode("utf-8")))
    runs = {}
    with tempfile.TemporaryDirectory() as d:
        only = Path(d) / "tokenizer_json_only"
        only.mkdir()
        (only / "tokenizer.json").write_bytes(TOKENIZER_JSON.read_bytes())
        withcfg = Path(d) / "with_tokenizer_config"
        withcfg.mkdir()
        (withcfg / "tokenizer.json").write_bytes(TOKENIZER_JSON.read_bytes())
        (withcfg / "tokenizer_config.json").write_text(json.dumps(HF_TOKENIZER_CONFIG))
        (withcfg / "special_tokens_map.json").write_text(json.dumps(HF_SPECIAL_TOKENS_MAP))
        for tag, folder in (("tokenizer_json_only", only), ("with_tokenizer_config", withcfg)):
            t = AutoTokenizer.from_pretrained(str(folder))
            chktok = t.encode(chktxt)
            chkhsh = sha256_bytes(str(chktok).encode())
            logging.disable(logging.WARNING)
            try:
                res = fn(None, t)
                err = None
            except NotImplementedError as e:
                res, err = None, str(e)
            finally:
                logging.disable(logging.NOTSET)
            matches = [dict(res=r, line=ln) for h, r, ln in chain if h == chkhsh]
            runs[tag] = dict(tokenizer_class=type(t).__name__, chktok=chktok,
                             chkhsh=chkhsh, matches_in_order=matches,
                             first_match=matches[0]["res"] if matches else None,
                             function_returns=res, function_error=err)
    out["runs"] = runs
    a, b = runs["tokenizer_json_only"], runs["with_tokenizer_config"]
    assert a["chktok"] == b["chktok"] and a["function_returns"] == b["function_returns"]
    b["chktok"] = "same as tokenizer_json_only"
    out.update(chkhsh=a["chkhsh"], first_match=a["first_match"], function_returns=a["function_returns"],
               note=("get_vocab_base_pre is a chain of plain `if` statements (no elif), so when the hash appears "
                     "more than once the LAST assignment wins: the function returns `function_returns`, not "
                     "necessarily `first_match`."),
               builtin_default_pre=dict(
                   value="mpt",
                   source="conversion/base.py TextModel._set_vocab_builtin: default_pre = \"mpt\" if model_name == "
                          "\"gpt-neox\" else \"default\"; written as tokenizer.ggml.pre when the vocab file has no "
                          "tokenizer.ggml.pre (ggml-vocab-gpt-neox.gguf has none)"),
               llama_runtime=llama_pre_regex(("mpt", "olmo")))
    return out


def llama_pre_regex(names):
    """For each pre-tokenizer name: the LLAMA_VOCAB_PRE_TYPE_* enum src/llama-vocab.cpp maps it to, and the
    regex list of the `case` group that enum belongs to (read from the source text)."""
    import re
    path = LLAMA_CPP / "src" / "llama-vocab.cpp"
    src = path.read_text(encoding="utf-8")
    out = dict(file="src/llama-vocab.cpp", file_sha256=sha256_file(path))
    for n in names:
        m = re.search(r'tokenizer_pre == "%s"\)\s*\{\s*pre_type = (LLAMA_VOCAB_PRE_TYPE_\w+);' % re.escape(n), src)
        enum = m.group(1)
        # the case group: consecutive `case X:` lines containing enum, then `regex_exprs = { ... };`
        g = re.search(r'((?:\s*case LLAMA_VOCAB_PRE_TYPE_\w+:)*\s*case %s:(?:\s*case LLAMA_VOCAB_PRE_TYPE_\w+:)*)'
                      r'\s*regex_exprs = \{(.*?)\};' % enum, src, re.S)
        group = re.findall(r"case (LLAMA_VOCAB_PRE_TYPE_\w+):", g.group(1))
        regexes = [ast.literal_eval(x) for x in re.findall(r'"(?:[^"\\]|\\.)*"', g.group(2))]
        out[n] = dict(pre_type=enum, case_group=group, regex_exprs=regexes)
    out["same_regexes"] = len({json.dumps(out[n]["regex_exprs"]) for n in names}) == 1
    return out


HF_TOKENIZER_CONFIG = {"add_prefix_space": False, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                       "unk_token": "<|endoftext|>", "tokenizer_class": "GPTNeoXTokenizer", "model_max_length": 1024}
HF_SPECIAL_TOKENS_MAP = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}


# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------


def layer_free_logits(sd, tokens):
    """emb -> ln0 -> ln_out -> head, in fp32: what the model would say without its two blocks."""
    f = {k: v.float() for k, v in sd.items()}
    x = F.layer_norm(f["emb.weight"][tokens], (C,), f["blocks.0.ln0.weight"], f["blocks.0.ln0.bias"])
    x = F.layer_norm(x, (C,), f["ln_out.weight"], f["ln_out.bias"])
    return x @ f["head.weight"].t()


def row_stats(lg):
    d = lg.double()
    return dict(lse=torch.logsumexp(d, -1), sum=d.sum(-1), sumsq=(d * d).sum(-1),
                max=lg.max(-1).values.float(), argmax=lg.argmax(-1).to(torch.int64))


def main():
    torch.set_num_threads(1)
    t_start = time.time()
    tok = tokenizer()
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids
    assert TOKENS[1:11] == enc(SENTENCE_1) and TOKENS[16:] == enc(SENTENCE_2) and len(TOKENS) == 24
    prompt = enc(PROMPT)

    # 1. checkpoint ---------------------------------------------------------------------------------
    model = build()
    sd = state_dict_tied(model)
    pth = HERE / NAME
    torch.save(sd, pth)
    os.chmod(pth, 0o644)
    back = torch.load(pth, map_location="cpu", weights_only=True)
    assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    assert back["head.weight"] is back["emb.weight"]
    import zipfile
    with zipfile.ZipFile(pth) as z:
        data_entries = sorted(n for n in z.namelist() if "/data/" in n)
        zip_prefix = [n for n in z.namelist() if n.endswith("/data.pkl")][0][:-len("/data.pkl")]
        pkl = z.read(zip_prefix + "/data.pkl")

    # 2. official runs: the .pth, and an fp32-widened copy (isolates the package's bf16 ln0 fold) -----
    docs = lambada_docs(tok)
    job = dict(tokens=TOKENS, prompt=prompt, n_gen=N_GEN, lambada=[[i, t] for i, t in docs])
    with tempfile.TemporaryDirectory() as d:
        wide = Path(d) / "v4-neox-fp32-widened.pth"
        torch.save({k: v.float() for k, v in sd.items()}, wide)
        t0 = time.time()
        runs = run_children({"bf16": (pth, job), "fp32_widened": (wide, job)})
        official_seconds = time.time() - t0
    ob, ow = runs["bf16"], runs["fp32_widened"]

    # checks --------------------------------------------------------------------------------------------
    free = layer_free_logits(sd, TOKENS)
    lw = ow["logits_seq"]
    layer_check = dict(
        what="official logits (fp32-widened run, same ln0 precision) vs the layer-free model emb->ln0->ln_out->head "
             "computed here in fp32",
        max_abs_diff=float((lw - free).abs().max()), mean_abs_diff=float((lw - free).abs().mean()),
        mean_abs_logit=float(lw.abs().mean()),
        argmax_agreement=int((lw.argmax(-1) == free.argmax(-1)).sum()), positions=len(TOKENS),
        layer_free_argmax_is_input_token=int((free.argmax(-1) == torch.tensor(TOKENS)).sum()),
        official_argmax_is_input_token=int((lw.argmax(-1) == torch.tensor(TOKENS)).sum()))
    assert layer_check["mean_abs_diff"] > 0.5 * layer_check["mean_abs_logit"], layer_check
    gb, gw = ob["greedy"], ow["greedy"]
    assert gb["ids"] == gw["ids"], "greedy differs between the bf16 file and its fp32-widened copy"
    assert min(gb["margins"]) > MIN_MARGIN and min(gw["margins"]) > MIN_MARGIN, (gb["margins"], gw["margins"])
    assert len(set(gb["ids"])) > 1, "greedy continuation repeats one token"
    seq_diff = float((ob["logits_seq"] - lw).abs().max())

    # 3. official safetensors (column subset + full-row statistics) ------------------------------------
    from safetensors.torch import save_file
    cols = torch.tensor(LOGIT_COLS, dtype=torch.int64)
    tensors = {"logit_cols": cols}
    for tag, r in (("", ob), ("_fp32_widened", ow)):
        lg = r["logits_seq"]
        assert lg.shape == (len(TOKENS), V) and lg.dtype == torch.float32
        tensors["logits_seq" + tag] = lg[:, cols].contiguous()
        for k, v in row_stats(lg).items():
            tensors[f"logits_seq{tag}_row_{k}"] = v.contiguous()
    meta = {"golden": json.dumps(dict(checkpoint=NAME, strategy=STRATEGY, rwkv=pkg_versions()["rwkv"],
                                      torch=torch.__version__, tokens=TOKENS, vocab_size=V,
                                      logits_seq="rows = positions, columns = logit_cols (token ids)"),
                                 sort_keys=True)}
    save_file(tensors, str(HERE / OFFICIAL), metadata=meta)
    os.chmod(HERE / OFFICIAL, 0o644)

    # 4. expected.json ------------------------------------------------------------------------------
    def lambada_summary(r):
        per = r["lambada"]["per_doc"]
        n = len(per)
        total_lp = 0.0
        for lp, _ in per:
            total_lp += lp
        n_correct = sum(c for _, c in per)
        return dict(n_docs=n, ppl=math.exp(-total_lp / n), acc=n_correct / n, n_correct=n_correct,
                    sum_logprob=total_lp, input_tokens=r["lambada"]["input_tokens"])

    tot_in = sum(len(i) + len(t) - 1 for i, t in docs)
    sb, sw = lambada_summary(ob), lambada_summary(ow)
    assert sb["input_tokens"] == tot_in == sw["input_tokens"]
    lp_diff = max(abs(a[0] - b[0]) for a, b in zip(ob["lambada"]["per_doc"], ow["lambada"]["per_doc"]))
    corr_diff = sum(a[1] != b[1] for a, b in zip(ob["lambada"]["per_doc"], ow["lambada"]["per_doc"]))

    expected = dict(
        about="RWKV-4 with the GPT-NeoX-20B vocabulary (V=50277, C=32, L=2, F=128, bf16) and what outside code "
              "(torch, rwkv 0.8.32, HF tokenizers/transformers, llama.cpp files) says about it. See README.md.",
        regenerate="/tmp/neoxg/bin/python golden/neox/make_neox_golden.py (environment: README.md)",
        versions=pkg_versions(),
        checkpoint=dict(
            file=NAME, sha256=sha256_file(pth), size=pth.stat().st_size, container="torch zip (torch.save of a "
            "state_dict)", zip_prefix=zip_prefix, zip_data_entries=len(data_entries), dtype="bf16",
            hyperparams=dict(n_layer=L, n_embd=C, dim_att=C, dim_ffn=FFN, vocab_size=V, version="4"),
            tied="head.weight is the same tensor object as emb.weight (one storage in the zip; the pickle refers "
                 "to the tensor twice via its memo)",
            keys=[dict(name=k, dtype="bf16", shape=list(t.shape), sha256=tensor_sha(t)) for k, t in sd.items()],
            data_pkl_sha256=sha256_bytes(pkl),
            init=dict(seed=SEED, global_seed=GLOBAL_SEED, emb_std=EMB_STD, out_gain=OUT_GAIN,
                      note="as golden/make_golden.py's v4 (trainer vector formulas + jitter, random matrices std "
                           "1/sqrt(fan_in), LayerNorm weight 1+N(0,0.1^2), bias N(0,0.1^2)) except att.output and "
                           "ffn.value, std OUT_GAIN/sqrt(fan_in); head = emb (tied), std EMB_STD; rounded to bf16 once")),
        tokenizer=dict(file="convert/vocab/20B_tokenizer.json", sha256=sha256_file(TOKENIZER_JSON),
                       library="tokenizers", encode="Tokenizer.encode(text, add_special_tokens=False).ids"),
        tokens=TOKENS,
        tokens_note=f"0, encode({SENTENCE_1!r}), 50254, 1, 50276, 50000, 12345, encode({SENTENCE_2!r})",
        official=dict(
            file=OFFICIAL, sha256=sha256_file(HERE / OFFICIAL), strategy=STRATEGY, env=ob["env"],
            torch_threads=ob["torch_threads"], package_detected_version=ob["package_detected_version"],
            rescale_layer=ob["rescale_layer"],
            call="model.forward(tokens, None, full_output=True) -> [24, 50277] fp32",
            stored=dict(
                logit_cols="I64 [K]: the token ids (columns) kept, ascending: 0..1023, 49253..50276, every 37th "
                           "id, every fixed token",
                logits_seq="F32 [24, K]: the package's logits on the .pth at columns logit_cols",
                logits_seq_fp32_widened="F32 [24, K]: the same on an fp32-widened copy of the .pth (temporary file "
                                        "torch.save({k: v.float()}); not kept)",
                row_stats="for each of the two, over ALL 50277 columns of each row: _row_lse F64 (logsumexp in "
                          "float64), _row_sum F64, _row_sumsq F64, _row_max F32, _row_argmax I64"),
            n_logit_cols=len(LOGIT_COLS),
            ln0_fold=dict(bf16_file=ob["ln0_fold"], fp32_widened=ow["ln0_fold"]),
            max_abs_diff_bf16_file_vs_fp32_widened=seq_diff,
            quirk="the package folds blocks.0.ln0 into emb.weight in the file dtype (bf16) before widening to fp32 "
                  "(see golden/README.md); an engine (or transformers) that folds in fp32 should match "
                  "logits_seq_fp32_widened, not logits_seq",
            head_is_emb_after_torch_load=ob["head_is_emb_in_loaded_dict"]),
        layers_matter=layer_check,
        greedy=dict(
            prompt=PROMPT, prompt_ids=prompt,
            how="tokenizers encode(prompt, add_special_tokens=False), no leading 0; out, state = "
                "model.forward(prompt_ids, None); then 32 times: t = argmax(out.float()); out, state = "
                "model.forward([t], state)",
            ids=gb["ids"], margins=gb["margins"], min_margin=min(gb["margins"]),
            distinct_ids=len(set(gb["ids"])), text=tok.decode(gb["ids"]),
            fp32_widened=dict(ids_equal=gw["ids"] == gb["ids"], margins=gw["margins"],
                              min_margin=min(gw["margins"]))),
        lambada=dict(
            file=str(LAMBADA), sha256=LAMBADA_SHA256,
            split="cut = text.rfind(' '); context = text[:cut]; target = text[cut:]; input = [0] + "
                  "encode(context); target ids = encode(target) (add_special_tokens=False)",
            run="model.forward(input + target[:-1], None, full_output=True); rows len(input)-1 .. predict the target "
                "tokens; log_softmax of logits.double(); logprob = sum over target tokens (in order, float64); "
                "correct = every target token is torch.argmax (first index on ties) of its fp32 row",
            **sb,
            per_doc_format="[logprob, correct] per document in file order",
            per_doc=ob["lambada"]["per_doc"],
            fp32_widened=dict(totals=sw, max_abs_logprob_diff_vs_bf16_file=lp_diff,
                              docs_with_different_correct=corr_diff,
                              per_doc_logprob=[x[0] for x in ow["lambada"]["per_doc"]])),
        gguf_vocab=gguf_vocab(tok),
        gguf_pre=gguf_pre(),
    )
    text = json.dumps(expected, indent=1, ensure_ascii=False)
    # one document per line keeps the file readable and small
    (HERE / EXPECTED).write_text(compact_per_doc(text) + "\n", encoding="utf-8")
    os.chmod(HERE / EXPECTED, 0o644)
    print(f"wrote {NAME} ({pth.stat().st_size} B), {OFFICIAL} ({(HERE / OFFICIAL).stat().st_size} B), "
          f"{EXPECTED} ({(HERE / EXPECTED).stat().st_size} B)")
    print(f"lambada: ppl {sb['ppl']:.6f} acc {sb['acc']:.6f} tokens {sb['input_tokens']} "
          f"(widened: ppl {sw['ppl']:.6f} acc {sw['acc']:.6f}); greedy {gb['ids']} min margin {min(gb['margins']):.4g}")
    print(f"official children: {official_seconds:.1f} s wall (lambada {ob['lambada']['seconds']:.1f} s, "
          f"{ow['lambada']['seconds']:.1f} s); total {time.time() - t_start:.1f} s")


def compact_per_doc(text):
    """json.dumps(indent=1) puts every number of per_doc on its own line; put each [logprob, correct]
    (and the other short number lists) on one line instead."""
    out = json.loads(text)

    def enc(o, ind):
        pad = " " * ind
        if isinstance(o, dict):
            if not o:
                return "{}"
            items = [f'{pad} {json.dumps(k, ensure_ascii=False)}: {enc(v, ind + 1)}' for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list):
            if all(not isinstance(x, (dict, list)) for x in o):
                return json.dumps(o, ensure_ascii=False)
            if all(isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x) for x in o):
                return "[\n" + ",\n".join(pad + " " + json.dumps(x, ensure_ascii=False) for x in o) + "\n" + pad + "]"
            return "[\n" + ",\n".join(pad + " " + enc(x, ind + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o, ensure_ascii=False)

    return enc(out, 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--job")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.child:
        child_main(a.child, a.job, a.out)
    else:
        main()
