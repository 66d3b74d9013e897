#!/usr/bin/env python3
"""Regenerate the fine-tuning fixtures in this folder (golden/finetune/).

    pip install -r golden/finetune/requirements.txt && python golden/finetune/make_finetune_golden.py

Run it from anywhere: every path is relative to this file. Deterministic (fixed seeds, torch single-threaded,
svd_lowrank seeded): a rerun with the pinned versions rewrites byte-identical files.

Inputs: the tiny base checkpoints golden/v5.2-bf16.pth, golden/v6-bf16.pth, golden/v7-bf16.pth written by
golden/make_golden.py (C=128, L=2, V=512, head size 64 -> H=2, N=64). Constants (TOKENS, STRATEGY, shapes) and the
subprocess environment (child_env) are imported from golden/make_golden.py so both fixture sets stay in step.

What it writes (see README.md for the formats and formulas, manifest.json for the numbers):
  1. LoRA / PiSSA adapters in RWKV-PEFT's checkpoint format (plain dict, bf16, keys without a 'model.' prefix):
     v6-lora.pth, v7-lora.pth, v7-pissa.pth (+ v7-pissa-init.pth and v7-pissa-init.peft-native.pth).
  2. The merges by RWKV-PEFT's formula evaluated in f32 and rounded once to bf16, only the changed tensors:
     *.merged.safetensors.
  3. The official `rwkv` package (cpu fp32) run on the full merged checkpoint (a temp file, deleted afterwards):
     *.official.safetensors (logits_seq / logits_tok).
  4. State-tuning files in RWKV-PEFT's format (dict of blocks.{i}.att.time_state [H, N, N] bf16): v5.2-state.pth,
     v6-state.pth (package run on base + state keys, the package's own time_state loading) and v7-state.pth
     (package's RWKV_x070 started from the state the way RWKV-Runner builds it): *-state.official.safetensors.
  5. manifest.json (versions, sha256 of every file, per-fixture facts and statistics).

Internal use: `make_finetune_golden.py --child JSON` is the subprocess entry point of steps 3/4.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent          # golden/finetune
GOLDEN = HERE.parent                            # golden
sys.path.insert(0, str(GOLDEN))
sys.dont_write_bytecode = True  # do not leave golden/__pycache__ behind
import make_golden as mg  # noqa: E402  (no import-time side effects: main() is guarded)

TOKENS = list(mg.TOKENS)
STRATEGY = mg.STRATEGY          # "cpu fp32"
C, L, V, N, H = mg.C, mg.L, mg.V, mg.N, mg.H

SEED = 20250615
RANK = 8                        # RWKV-PEFT train.py default lora_r / pissa_r
ALPHA = 32                      # RWKV-PEFT train.py default lora_alpha
SVD_NITER = 4                   # RWKV-PEFT train.py default pissa_config svd_niter
LORA_REL_STD = 0.20             # std(B@A*alpha/r) ~= 20% of std(W)
PISSA_NOISE_REL = 0.10          # trained A/B = init + N(0, (10% of std(init))^2)
STATE_STD = 1.0                 # std of the random time_state values

RWKV_PEFT = dict(repo="https://github.com/JL-er/RWKV-PEFT", commit="5b8aac9cbed9474fb9f13332ffe9bd1aa377b7d2")
RWKV_RUNNER = dict(repo="https://github.com/josStorer/RWKV-Runner", commit="64269f0a5f8f6a77ae24c538dcbd8330bb41fee0")

BASE = {"v5.2": "v5.2-bf16.pth", "v6": "v6-bf16.pth", "v7": "v7-bf16.pth"}
PKG_VERSION = {"v5.2": "5.2", "v6": "6", "v7": "7"}      # make_golden version strings (child_env)

# ---------------------------------------------------------------------------------------------------
# Fixture definitions
# ---------------------------------------------------------------------------------------------------
V6_LORA_TARGETS = [f"blocks.{i}.{m}" for i in range(L) for m in
                   ["att.receptance", "att.key", "att.value", "att.gate", "att.output",
                    "ffn.key", "ffn.receptance", "ffn.value"]]
V7_LORA_TARGETS = [f"blocks.{i}.{m}" for i in range(L) for m in
                   ["att.receptance", "att.key", "att.value", "att.output", "ffn.key", "ffn.value"]]
# PiSSA: a subset (keeps the folder small) with square, tall (512x128) and wide (128x512) matrices
V7_PISSA_TARGETS = ["blocks.0.att.key", "blocks.0.att.value", "blocks.1.att.key", "blocks.1.att.value",
                    "blocks.1.ffn.key", "blocks.1.ffn.value"]

# full replacement tensors (what a `--train_parts` adapter carries): name -> std of the additive noise
V6_LORA_REPLACE = {"blocks.0.ln1.weight": 0.05, "blocks.1.att.time_faaaa": 0.05, "ln_out.bias": 0.05}
V7_LORA_REPLACE = {"blocks.1.att.w0": 0.3, "ln_out.weight": 0.05}
V7_PISSA_REPLACE = {"blocks.1.ln2.bias": 0.05}

LORA_FIXTURES = [
    # name, base group, kind, targets, replacements, seed offset
    ("v6-lora", "v6", "lora", V6_LORA_TARGETS, V6_LORA_REPLACE, 1),
    ("v7-lora", "v7", "lora", V7_LORA_TARGETS, V7_LORA_REPLACE, 2),
    ("v7-pissa", "v7", "pissa", V7_PISSA_TARGETS, V7_PISSA_REPLACE, 3),
]
STATE_FIXTURES = [("v6-state", "v6", 11), ("v5.2-state", "v5.2", 12), ("v7-state", "v7", 13)]


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------
def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(shape, g):
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def bf16(t):
    return t.to(torch.bfloat16).contiguous()


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_base(group):
    return torch.load(GOLDEN / BASE[group], map_location="cpu", weights_only=True)


def bf16_ord(t):
    """bf16 values -> integers whose differences count bf16 ulps (monotonic; +0 and -0 both map to 0)."""
    u = t.contiguous().view(torch.int16).to(torch.int32) & 0xFFFF
    return torch.where(u >= 0x8000, -(u - 0x8000), u)


def ulp_stats(a, b):
    """a vs b (both bf16): how many elements differ, by how many bf16 ulps (distance on the bf16 grid), max |a-b|."""
    assert a.dtype == torch.bfloat16 and b.dtype == torch.bfloat16 and a.shape == b.shape
    d = (bf16_ord(a) - bf16_ord(b)).abs()
    return dict(elements=a.numel(), differing=int((d != 0).sum()), max_ulps=int(d.max()),
                differing_by_1_ulp=int((d == 1).sum()), differing_by_2_ulps=int((d == 2).sum()),
                differing_by_more_than_2_ulps=int((d > 2).sum()),
                max_abs_diff=float((a.float() - b.float()).abs().max()))


def combine_ulp(stats):
    out = {k: sum(s[k] for s in stats) for k in ["elements", "differing", "differing_by_1_ulp",
                                                  "differing_by_2_ulps", "differing_by_more_than_2_ulps"]}
    out["max_ulps"] = max(s["max_ulps"] for s in stats)
    out["max_abs_diff"] = max(s["max_abs_diff"] for s in stats)
    return out


def fround(x, n=6):
    return float(f"{x:.{n}g}")


def write_pth(obj, path):
    torch.save(obj, path)
    os.chmod(path, 0o644)


# ---------------------------------------------------------------------------------------------------
# LoRA / PiSSA
# ---------------------------------------------------------------------------------------------------
def make_lora_pair(W, g):
    """A [r, in], B [out, r], random normal, scaled so std(B@A*alpha/r) == LORA_REL_STD * std(W) (before bf16)."""
    out_f, in_f = W.shape
    A = randn((RANK, in_f), g)
    B = randn((out_f, RANK), g)
    d = (B @ A) * (ALPHA / RANK)
    c = math.sqrt(LORA_REL_STD * float(W.float().std()) / float(d.std()))
    return bf16(A * c), bf16(B * c)


def pissa_init(W, seed):
    """rwkvt/peft/rwkvLinear.py LoraLinear.pissa_init on the f32 weight (bf16 values widened)."""
    torch.manual_seed(seed)  # svd_lowrank draws its random projection from the global generator
    Ur, Sr, Vr = torch.svd_lowrank(W.float(), RANK, niter=SVD_NITER)
    Vhr = Vr.t()
    A0 = torch.diag(torch.sqrt(Sr)) @ Vhr
    B0 = Ur @ torch.diag(torch.sqrt(Sr))
    return A0, B0, Sr


def merge_lora_f32(W, A, B):
    return (W.float() + (B.float() @ A.float()) * (ALPHA / RANK)).to(torch.bfloat16)


def merge_pissa_f32(W, A, B, A0, B0):
    res = (W.float() - B0.float() @ A0.float()).to(torch.bfloat16)
    return (res.float() + B.float() @ A.float()).to(torch.bfloat16)


def merge_lora_literal(W, A, B):
    """merge/merge.py (--type lora, --quant none) line 87, merge/merge_lora.py line 41, on CPU bf16 tensors."""
    w = W.clone()
    lora_alpha = ALPHA                  # merge.py: --lora_alpha type=int
    lora_r = B.shape[1]
    w += B @ A * (lora_alpha / lora_r)
    return w


def merge_pissa_literal(W, A, B, A0, B0):
    """merge/merge.py (--type pissa, --quant none) lines 72-73 / merge/merge_pissa.py lines 46-47, on CPU."""
    w = (W - B0 @ A0).to(dtype=torch.bfloat16)
    w += B @ A
    return w


def merge_f64_reference(W, A, B, A0=None, B0=None):
    """Same formula with f64 products (then rounded to f32 and once to bf16), to show how often a different
    summation order could flip a bf16 rounding."""
    if A0 is None:
        m = W.double() + (B.double() @ A.double()) * (ALPHA / RANK)
        return m.float().to(torch.bfloat16)
    res = (W.double() - B0.double() @ A0.double()).float().to(torch.bfloat16)
    return (res.double() + B.double() @ A.double()).float().to(torch.bfloat16)


def seq_matmul_f32(B, A):
    """B @ A in f32 with the plainest loop: k ascending, acc = acc + B[i,k]*A[k,j] (bf16*bf16 products are exact in
    f32, so FMA or not makes no difference; only the summation order can)."""
    acc = torch.zeros(B.shape[0], A.shape[1], dtype=torch.float32)
    for k in range(B.shape[1]):
        acc = acc + B[:, k:k + 1].float() * A[k:k + 1, :].float()
    return acc


def merge_sequential_f32(W, A, B, A0=None, B0=None):
    if A0 is None:
        return (W.float() + seq_matmul_f32(B, A) * (ALPHA / RANK)).to(torch.bfloat16)
    res = (W.float() - seq_matmul_f32(B0, A0)).to(torch.bfloat16)
    return (res.float() + seq_matmul_f32(B, A)).to(torch.bfloat16)


def build_lora_fixture(name, group, kind, targets, replace, seed_off):
    base = load_base(group)
    g = gen(SEED + 1000 * seed_off)
    adapter, changed, init_plain, init_native = {}, {}, {}, {}
    info_targets, lit, lit_native, f64, seq = [], [], [], [], []
    replaced = []
    for k in base:  # adapter / merged dict in the base file's key order
        if k.endswith(".weight") and k[:-len(".weight")] in targets:
            X = k[:-len(".weight")]
            W = base[k]
            ti = dict(tensor=k, shape=list(W.shape), lora_A_shape=[RANK, W.shape[1]], lora_B_shape=[W.shape[0], RANK])
            if kind == "lora":
                A, B = make_lora_pair(W, g)
                merged = merge_lora_f32(W, A, B)
                lit.append(ulp_stats(merge_lora_literal(W, A, B), merged))
                f64.append(ulp_stats(merge_f64_reference(W, A, B), merged))
                seq.append(ulp_stats(merge_sequential_f32(W, A, B), merged))
                delta = (B.float() @ A.float()) * (ALPHA / RANK)
                ti["std_delta_over_std_W"] = fround(float(delta.std()) / float(W.float().std()))
            else:
                A0f, B0f, S = pissa_init(W, SEED + 1000 * seed_off + len(info_targets))
                A0, B0 = bf16(A0f), bf16(B0f)
                init_plain[X + ".init_lora_A"] = A0
                init_plain[X + ".init_lora_B"] = B0
                init_native["model." + X + ".init_lora_A"] = A0.float().contiguous()
                init_native["model." + X + ".init_lora_B"] = B0.float().contiguous()
                A = bf16(A0.float() + randn(A0.shape, g) * (PISSA_NOISE_REL * float(A0.float().std())))
                B = bf16(B0.float() + randn(B0.shape, g) * (PISSA_NOISE_REL * float(B0.float().std())))
                merged = merge_pissa_f32(W, A, B, A0, B0)
                lit.append(ulp_stats(merge_pissa_literal(W, A, B, A0, B0), merged))
                lit_native.append(ulp_stats(merge_pissa_literal(W, A, B, A0.float(), B0.float()), merged))
                f64.append(ulp_stats(merge_f64_reference(W, A, B, A0, B0), merged))
                seq.append(ulp_stats(merge_sequential_f32(W, A, B, A0, B0), merged))
                delta = B.float() @ A.float() - B0.float() @ A0.float()
                ti["svd_lowrank_singular_values"] = [fround(float(s)) for s in S]
                ti["std_B0A0_over_std_W"] = fround(float((B0.float() @ A0.float()).std()) / float(W.float().std()))
                ti["std_(BA-B0A0)_over_std_W"] = fround(float(delta.std()) / float(W.float().std()))
            adapter[X + ".lora_A"] = A
            adapter[X + ".lora_B"] = B
            changed[k] = merged
            ti["elements_changed_vs_base"] = int((merged != W).sum())
            info_targets.append(ti)
        elif k in replace:
            t = base[k]
            new = bf16(t.float() + randn(t.shape, g) * replace[k])
            assert new.shape == t.shape and new.dtype == t.dtype
            adapter[k] = new
            changed[k] = new
            replaced.append(dict(tensor=k, shape=list(t.shape), noise_std=replace[k],
                                 elements_changed_vs_base=int((new != t).sum())))
    assert len(info_targets) == len(targets) and len(replaced) == len(replace)

    write_pth(adapter, HERE / f"{name}.pth")
    from safetensors.torch import save_file
    meta = {"fixture": json.dumps(dict(base=f"golden/{BASE[group]}", adapter=f"{name}.pth", kind=kind, rank=RANK,
                                       alpha=(ALPHA if kind == "lora" else None)), sort_keys=True)}
    save_file(changed, str(HERE / f"{name}.merged.safetensors"), metadata=meta)
    os.chmod(HERE / f"{name}.merged.safetensors", 0o644)
    files = dict(adapter=f"{name}.pth", merged=f"{name}.merged.safetensors")
    if kind == "pissa":
        write_pth(init_plain, HERE / f"{name}-init.pth")
        write_pth(init_native, HERE / f"{name}-init.peft-native.pth")
        files["init"] = f"{name}-init.pth"
        files["init_peft_native"] = f"{name}-init.peft-native.pth"

    info = dict(
        name=name, kind=kind, base=f"golden/{BASE[group]}", files=files, rank=RANK,
        alpha=(ALPHA if kind == "lora" else "not used (PiSSA merge has no scaling)"),
        scaling=(ALPHA / RANK if kind == "lora" else 1.0),
        adapter_keys=list(adapter.keys()),
        adapter_dtype="bfloat16", adapter_container="torch.save(dict) (zip), keys without 'model.' prefix",
        merged_tensors=[t["tensor"] for t in info_targets], replaced_tensors=[r["tensor"] for r in replaced],
        merged_detail=info_targets, replaced_detail=replaced,
        merged_file_tensors=list(changed.keys()),
        literal_bf16_merge_vs_f32_formula=dict(
            note=("merge.py / merge_lora.py arithmetic on CPU bf16 tensors (bf16 matmul, bf16 scale, bf16 +=)"
                  if kind == "lora" else
                  "merge.py / merge_pissa.py arithmetic on CPU with the bf16 init file (B0 @ A0 is a bf16 matmul, "
                  "the subtraction is bf16)"),
            **combine_ulp(lit)),
        f64_products_vs_f32_formula=dict(
            note="same formula with f64 matmuls (then f32, then bf16): sensitivity of the fixture to summation order",
            **combine_ulp(f64)),
        sequential_f32_loop_vs_f32_formula=dict(
            note="same formula with the matmul as a plain f32 loop over k ascending (what a naive implementation "
                 "computes) instead of torch's CPU sgemm",
            **combine_ulp(seq)),
    )
    if kind == "pissa":
        info["literal_bf16_merge_with_f32_init_vs_f32_formula"] = dict(
            note="same but with the f32 init file (peft-native): the residual W - B0@A0 is f32, only B@A is bf16",
            **combine_ulp(lit_native))
        info["init_keys"] = list(init_plain.keys())
        info["init_peft_native_keys"] = list(init_native.keys())
        info["svd"] = f"torch.svd_lowrank(W.float(), q={RANK}, niter={SVD_NITER}) after torch.manual_seed(seed)"
        info["trained_noise"] = f"A = bf16(A0 + N(0, ({PISSA_NOISE_REL} * std(A0))^2)), same for B"
    return info, changed


# ---------------------------------------------------------------------------------------------------
# State files
# ---------------------------------------------------------------------------------------------------
def build_state_fixture(name, group, seed_off):
    g = gen(SEED + 1000 * seed_off)
    st = {f"blocks.{i}.att.time_state": bf16(randn((H, N, N), g) * STATE_STD) for i in range(L)}
    write_pth(st, HERE / f"{name}.pth")
    return st


# ---------------------------------------------------------------------------------------------------
# Official package run (subprocess)
# ---------------------------------------------------------------------------------------------------
def run_child(spec, version, log):
    res_path = Path(spec["result"])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    p = subprocess.run(cmd, env=mg.child_env(version), capture_output=True, text=True)
    log.write(f"===== {spec['label']} (exit {p.returncode})\n{p.stdout}\n{p.stderr}\n")
    if p.returncode != 0 or not res_path.exists():
        raise RuntimeError(f"official run {spec['label']} failed: " + (p.stderr.strip().splitlines() or ["?"])[-1])
    res = json.loads(res_path.read_text())
    res_path.unlink()
    return res


def child_main(spec):
    torch.set_num_threads(1)
    from importlib.metadata import version as pkg_version
    from safetensors.torch import save_file
    from rwkv.model import RWKV as OfficialRWKV

    v7 = spec["version"].startswith("7")
    res = dict(env={k: v for k, v in sorted(os.environ.items()) if k.startswith("RWKV_")})
    if v7:
        assert OfficialRWKV.__name__ == "RWKV_x070"
        model = OfficialRWKV(spec["model"][:-len(".pth")], STRATEGY)  # this loader appends '.pth' itself
        res["package_class"] = "RWKV_x070"
    else:
        model = OfficialRWKV(spec["model"], STRATEGY, verbose=False)
        res["package_class"] = "RWKV"
        res["package_detected_version"] = float(model.version)
        res["package_time_state_flag"] = bool(model.args.time_state)
        assert model.RESCALE_LAYER == 0

    def explicit_state(kv):  # kv: list of [H, N, N] f32 per layer; att/ffn token-shift states zero
        st = []
        for i in range(L):
            st += [torch.zeros(C, dtype=torch.float32), kv[i].float().contiguous(), torch.zeros(C, dtype=torch.float32)]
        return st

    def run(init):
        with torch.no_grad():
            s0 = None if init is None else [s.clone() for s in init]
            out, st = model.forward(list(TOKENS), s0, full_output=True)
            logits_seq = out.detach().float().clone()
            state_seq = [s.detach().float().clone() for s in st]
            rows, state = [], (None if init is None else [s.clone() for s in init])
            for t in TOKENS:
                out, state = model.forward([t], state)
                rows.append(out.detach().float().clone().reshape(-1))
                state = [s.clone() for s in state]
            return logits_seq, torch.stack(rows), state_seq, [s.detach().float().clone() for s in state]

    ts = None
    if spec.get("state"):
        raw = torch.load(spec["state"], map_location="cpu", weights_only=True)
        ts = [raw[f"blocks.{i}.att.time_state"] for i in range(L)]
        res["state_file_dtype"] = str(ts[0].dtype).replace("torch.", "")

    if v7 and ts is not None:
        # RWKV-Runner backend-python/utils/rwkv.py lines 840-860 (version >= 7): time_state as-is
        main_init = explicit_state(ts)
    else:
        main_init = None  # v5/v6 state fixtures: the package's own loading of blocks.{i}.att.time_state
    logits_seq, logits_tok, state_seq, state_tok = run(main_init)
    assert logits_seq.shape == (len(TOKENS), V) and logits_tok.shape == (len(TOKENS), V)
    res["max_abs_diff_seq_vs_tok"] = float((logits_seq - logits_tok).abs().max())
    res["max_abs_diff_state_seq_vs_tok"] = max(float((a - b).abs().max()) for a, b in zip(state_seq, state_tok))
    res["max_abs_logit"] = float(logits_seq.abs().max())
    res["state_shapes"] = [list(s.shape) for s in state_seq]

    if ts is not None:
        zero_seq = run(None if v7 else explicit_state([torch.zeros(H, N, N)] * L))[0]
        d = (logits_seq - zero_seq).abs()
        res["vs_zero_state"] = dict(max_abs_diff=float(d.max()), max_abs_diff_first_token=float(d[0].max()),
                                    max_abs_diff_last_token=float(d[-1].max()))
        if v7:
            wrong = run(explicit_state([t.transpose(1, 2) for t in ts]))[0]
            res["orientation"] = dict(
                used="time_state as stored (RWKV-Runner, version >= 7): package v7 state is S[h][value][key]",
                max_abs_diff_vs_transposed_state=float((logits_seq - wrong).abs().max()))
        else:
            mine = run(explicit_state([t.transpose(1, 2) for t in ts]))[0]
            wrong = run(explicit_state(ts))[0]
            res["orientation"] = dict(
                used="package loads time_state.transpose(1, 2) (rwkv/model.py line 1468): package v5/v6 state is "
                     "S[h][key][value]",
                max_abs_diff_package_loading_vs_explicit_transposed_state=float((logits_seq - mine).abs().max()),
                max_abs_diff_vs_untransposed_state=float((logits_seq - wrong).abs().max()))

    tensors = {"logits_seq": logits_seq.contiguous(), "logits_tok": logits_tok.contiguous()}
    if spec.get("save_states"):
        for i, s in enumerate(state_seq):
            tensors[f"state_seq.{i}"] = s.contiguous()
    # one metadata entry only (safetensors metadata is a hash map: several keys would be written in random order)
    meta = {"golden": json.dumps(dict(checkpoint=spec["label"], strategy=STRATEGY, rwkv=pkg_version("rwkv"),
                                      torch=torch.__version__, tokens=TOKENS), sort_keys=True)}
    save_file(tensors, spec["out"], metadata=meta)
    os.chmod(spec["out"], 0o644)
    res["tensors"] = list(tensors.keys())
    Path(spec["result"]).write_text(json.dumps(res))


# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------
def main():
    torch.set_num_threads(1)
    HERE.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import load_file

    def base_logits(group):
        return load_file(str(GOLDEN / BASE[group].replace(".pth", ".official.safetensors")))["logits_seq"]

    tmp = Path(tempfile.mkdtemp(prefix="rwkv-finetune-golden-"))
    logpath = Path(os.environ.get("TMPDIR", "/tmp")) / "make_finetune_golden_official.log"
    fixtures = []
    try:
        with open(logpath, "w") as log:
            for name, group, kind, targets, replace, seed_off in LORA_FIXTURES:
                info, changed = build_lora_fixture(name, group, kind, targets, replace, seed_off)
                full = load_base(group)               # same key order as the base file
                for k, t in changed.items():
                    assert k in full and full[k].shape == t.shape and full[k].dtype == t.dtype
                    full[k] = t
                ck = tmp / f"{name}.full-merged.pth"
                torch.save(full, ck)
                out = HERE / f"{name}.official.safetensors"
                res = run_child(dict(label=f"golden/{BASE[group]} merged with {name}.pth ({kind}, f32 formula, "
                                           f"rounded once to bf16)", model=str(ck), version=PKG_VERSION[group],
                                     out=str(out), result=str(tmp / "res.json"), save_states=False),
                                PKG_VERSION[group], log)
                ck.unlink()
                got = load_file(str(out))["logits_seq"]
                info["official"] = dict(
                    file=out.name, strategy=STRATEGY, tokens=TOKENS, checkpoint="temp file: base dict (same key "
                    "order) with the tensors of the merged file substituted, torch.save; deleted after the run",
                    tensors=res["tensors"], package_class=res["package_class"], env=res["env"],
                    max_abs_diff_seq_vs_tok=res["max_abs_diff_seq_vs_tok"], max_abs_logit=res["max_abs_logit"],
                    max_abs_diff_vs_base_official_logits=float((got - base_logits(group)).abs().max()))
                if "package_detected_version" in res:
                    info["official"]["package_detected_version"] = res["package_detected_version"]
                fixtures.append(info)
                print(f"wrote {name}")

            for name, group, seed_off in STATE_FIXTURES:
                st = build_state_fixture(name, group, seed_off)
                out = HERE / f"{name}.official.safetensors"
                if group == "v7":
                    spec = dict(label=f"golden/{BASE[group]} + {name}.pth (RWKV-Runner v7 state construction)",
                                model=str(GOLDEN / BASE[group]), state=str(HERE / f"{name}.pth"))
                    how = ("RWKV_x070 on the base file; initial state per layer i (RWKV-Runner backend-python/utils/"
                           "rwkv.py lines 840-860): [zeros(C), blocks.i.att.time_state.float() as stored, zeros(C)]; "
                           "seq: model.forward(tokens, clone(state0), full_output=True); tok: state=clone(state0), "
                           "for t: logits, state = model.forward([t], state) (states cloned)")
                else:
                    full = load_base(group)
                    for k, t in st.items():   # merge/merge_state.py lines 29-31: w[k] = w_state[k]
                        full[k] = t
                    ck = tmp / f"{name}.full-merged.pth"
                    torch.save(full, ck)
                    spec = dict(label=f"golden/{BASE[group]} + {name}.pth (merge_state.py: base dict updated with "
                                      f"the state dict)", model=str(ck), state=str(HERE / f"{name}.pth"))
                    how = ("temp file = base dict updated with the state dict (merge/merge_state.py), torch.save; "
                           "package RWKV(...) loads blocks.i.att.time_state itself (rwkv/model.py lines 765-768, "
                           "1467-1468: state[i*3+1] = time_state.transpose(1,2).float()) when forward gets "
                           "state=None; seq and tok calls exactly as make_golden.py")
                spec.update(version=PKG_VERSION[group], out=str(out), result=str(tmp / "res.json"), save_states=True)
                res = run_child(spec, PKG_VERSION[group], log)
                if group != "v7":
                    (tmp / f"{name}.full-merged.pth").unlink()
                    assert res["package_time_state_flag"], "package did not see the time_state keys"
                fixtures.append(dict(
                    name=name, kind="state", base=f"golden/{BASE[group]}", files=dict(state=f"{name}.pth"),
                    state_keys=list(st.keys()), state_shape=[H, N, N], state_dtype="bfloat16",
                    state_container="torch.save(dict) (zip), keys without 'model.' prefix",
                    values=f"N(0, {STATE_STD}^2) rounded to bf16",
                    official=dict(file=out.name, strategy=STRATEGY, tokens=TOKENS, how=how, tensors=res["tensors"],
                                  state_shapes=res["state_shapes"], package_class=res["package_class"],
                                  env=res["env"], state_file_dtype_as_loaded=res["state_file_dtype"],
                                  max_abs_diff_seq_vs_tok=res["max_abs_diff_seq_vs_tok"],
                                  max_abs_diff_state_seq_vs_tok=res["max_abs_diff_state_seq_vs_tok"],
                                  max_abs_logit=res["max_abs_logit"],
                                  **({"package_detected_version": res["package_detected_version"]}
                                     if "package_detected_version" in res else {})),
                    logits_vs_zero_state=res["vs_zero_state"],
                    orientation_check=res["orientation"],
                ))
                print(f"wrote {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for p in HERE.iterdir():
        if p.is_file():
            os.chmod(p, 0o644)
    files = {p.name: dict(sha256=sha256_file(p), size=p.stat().st_size)
             for p in sorted(HERE.iterdir()) if p.is_file() and p.name != "manifest.json"}
    manifest = dict(
        description="RWKV-PEFT LoRA/PiSSA adapters and state-tuning files for the tiny golden checkpoints, their "
                    "merges and the official rwkv package's outputs. See README.md.",
        regenerate="pip install -r golden/finetune/requirements.txt && python golden/finetune/make_finetune_golden.py",
        versions=mg.versions(),
        rwkv_peft=RWKV_PEFT, rwkv_runner=RWKV_RUNNER,
        shape=dict(n_embd=C, n_layer=L, vocab_size=V, head_size=N, n_head=H),
        tokens=TOKENS, strategy=STRATEGY, seed=SEED,
        formulas=dict(
            lora="merged = (W.float() + (B.float() @ A.float()) * (alpha / r)).to(bfloat16), r = lora_B.shape[1]",
            pissa="res = (W.float() - B0.float() @ A0.float()).to(bfloat16); "
                  "merged = (res.float() + B.float() @ A.float()).to(bfloat16)  (no alpha)",
            replacement="adapter tensors that are not *.lora_A/*.lora_B replace the base tensor of the same name",
            state_v5_v6="package initial att state = time_state.transpose(1, 2).float()",
            state_v7="RWKV-Runner initial att state = time_state.float() (as stored)",
            merged_files="only the changed tensors (merged + replaced), bf16, base names",
        ),
        fixtures=fixtures,
        files=files,
    )
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    os.chmod(HERE / "manifest.json", 0o644)
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"wrote manifest.json; folder total {total} bytes (official-run log: {logpath})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        child_main(json.loads(a.child))
    else:
        main()
