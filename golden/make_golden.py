#!/usr/bin/env python3
"""Regenerate the golden test fixtures in this folder (golden/).

    pip install -r golden/requirements.txt && python golden/make_golden.py

Run it from anywhere: every path is relative to this file. The script is deterministic (fixed seeds,
single-threaded torch); running it twice gives byte-identical files with the pinned versions.

What it does
  1. Builds tiny random RWKV checkpoints (C=128, L=2, V=512, head size 64 so H=2) as real `nn.Module`s
     whose submodule/parameter names and declaration order follow BlinkDL's RWKV-LM trainers, and saves
     them with `torch.save(module.state_dict(), path)` (so the pickle carries the state_dict `_metadata`).
     Values follow the trainers' init formulas for the time-mix/decay/bonus vectors (plus a small fixed
     jitter) and random normal values (std ~ 1/sqrt(fan_in)) for every matrix, including the ones the
     trainers zero-initialise, so that every tensor influences the logits.
  2. Runs the official `rwkv` PyPI package (0.8.32), strategy `cpu fp32`, on each checkpoint in a separate
     subprocess (RWKV_V7_ON / RWKV_DE_VERSION must be set before `import rwkv.model`), in sequence mode
     (one `forward(tokens, None, full_output=True)` call) and token-by-token mode, and saves the logits
     and final states as `NAME.official.safetensors`.
  3. Writes `manifest.json` (hyper-parameters from construction, per-tensor sha256, state layouts, ...).

Internal use: `make_golden.py --official NAME` is the subprocess entry point of step 2.
"""

import argparse
import copy
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import platform
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------------
# Shapes and fixed inputs
# ---------------------------------------------------------------------------------------------------
C = 128          # n_embd (= dim_att)
L = 2            # n_layer
V = 512          # vocab_size
N = 64           # head size
H = C // N       # n_head = 2
F_4X = 4 * C                          # v4, 5.0 (RWKV-v4neo without 'r3'), v7: 4C
F_35X = int((C * 3.5) // 32 * 32)     # 5.1 ('r3'), 5.2, 6: RWKV-v4neo/RWKV-v5 trainer default
V6_MIX_LORA = 32                      # RWKV-v5 trainer x060 D_MIX_LORA
V6_DECAY_LORA = 64                    # RWKV-v5 trainer x060 D_DECAY_LORA
V7_LORA = dict(decay_lora=32, a_lora=16, v_lora=8, gate_lora=48)   # distinct on purpose
DE_DIM = 1024                         # DeepEmbed table width (viewed as 32x32 by the package)
DE_RANK = 32

# 24 token ids in [0, V), starting with 0 (the BOS/separator id); a few repeats on purpose.
TOKENS = [0, 17, 342, 511, 5, 88, 88, 260, 1, 499, 73, 128, 300, 47, 256, 9, 400, 13, 1, 255, 77, 450, 31, 200]
assert len(TOKENS) == 24 and TOKENS[0] == 0 and all(0 <= t < V for t in TOKENS)

STRATEGY = "cpu fp32"
GLOBAL_SEED = 20250101

# ---------------------------------------------------------------------------------------------------
# Deterministic random values
# ---------------------------------------------------------------------------------------------------


class Rng:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std, mean=0.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32) * std + mean

    def jitter(self, t, std):
        return t + self.normal(t.shape, std)


def set_(param, value):
    """Overwrite a parameter's value in place (shape must match)."""
    assert tuple(param.shape) == tuple(value.shape), (tuple(param.shape), tuple(value.shape))
    with torch.no_grad():
        param.copy_(value)


def linear(fan_in, fan_out, rng):
    m = nn.Linear(fan_in, fan_out, bias=False)
    set_(m.weight, rng.normal((fan_out, fan_in), 1.0 / math.sqrt(fan_in)))
    return m


def layernorm(dim, rng):
    m = nn.LayerNorm(dim)
    set_(m.weight, rng.normal((dim,), 0.1, mean=1.0))
    set_(m.bias, rng.normal((dim,), 0.1))
    return m


def groupnorm(groups, dim, rng, eps=1e-5):
    m = nn.GroupNorm(groups, dim, eps=eps)
    set_(m.weight, rng.normal((dim,), 0.1, mean=1.0))
    set_(m.bias, rng.normal((dim,), 0.1))
    return m


def ddd_vec(n_embd):
    ddd = torch.ones(1, 1, n_embd)
    for i in range(n_embd):
        ddd[0, 0, i] = i / n_embd
    return ddd


def ratios(layer_id, n_layer):
    ratio_0_to_1 = layer_id / (n_layer - 1)
    ratio_1_to_almost0 = 1.0 - (layer_id / n_layer)
    return ratio_0_to_1, ratio_1_to_almost0


MIX_JITTER = 0.02     # time_mix / maa / x_* vectors
DECAY_JITTER = 0.1    # time_decay, w0, a0, v0 ...
BONUS_JITTER = 0.1    # time_first / time_faaaa / r_k / k_k / k_a

# ---------------------------------------------------------------------------------------------------
# Modules. Names and declaration order follow BlinkDL/RWKV-LM:
#   v4, 5.0, 5.1 : RWKV-v4neo/src/model.py  RWKV_TimeMix, RWKV_TimeMix_RWKV5_Preview, RWKV_ChannelMix
#   5.2, 6       : RWKV-v5/src/model.py     RWKV_Tmix_x052, RWKV_CMix_x052, RWKV_Tmix_x060, RWKV_CMix_x060
#   7            : RWKV-v7/train_temp/src/model.py  RWKV_Tmix_x070, RWKV_CMix_x070
#   7 DeepEmbed  : tensor names/shapes from RWKV-v7/rwkv_v7a_demo.py (no public trainer; order is ours)
# state_dict order = a module's own parameters (in assignment order) then its children (in order).
# ---------------------------------------------------------------------------------------------------


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
        self.output = linear(A, C, rng)


class ChannelMixV4(nn.Module):  # RWKV_ChannelMix (v4neo) == RWKV_CMix_x052 (v5 trainer)
    def __init__(self, layer_id, dim_ffn, rng):
        super().__init__()
        _, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        self.time_mix_k = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.time_mix_r = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.key = linear(C, dim_ffn, rng)
        self.receptance = linear(C, C, rng)
        self.value = linear(dim_ffn, C, rng)


class TimeMixV5Preview(nn.Module):  # RWKV_TimeMix_RWKV5_Preview: 5.0 (gate=False) / 5.1 ('r3', gate=True)
    def __init__(self, layer_id, rng, gate):
        super().__init__()
        A = C
        r01, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        self.time_mix_k = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.time_mix_v = nn.Parameter(rng.jitter(torch.pow(ddd, r10) + 0.3 * r01, MIX_JITTER))
        self.time_mix_r = nn.Parameter(rng.jitter(torch.pow(ddd, 0.5 * r10), MIX_JITTER))
        if gate:
            self.time_mix_g = nn.Parameter(rng.jitter(torch.pow(ddd, 0.5 * r10), MIX_JITTER))
            self.gate = linear(C, A, rng)
        decay_speed = torch.ones(H)
        for h in range(H):
            decay_speed[h] = -6 + 5 * (h / (H - 1)) ** (0.7 + 1.3 * r01)
        self.time_decay = nn.Parameter(rng.jitter(decay_speed, DECAY_JITTER))
        # log-space bonus (the non-'r2' variant): u = exp(time_first)
        self.time_first = nn.Parameter(rng.jitter(torch.ones(H) * (-3.0), 0.3))
        self.receptance = linear(C, A, rng)
        self.key = linear(C, A, rng)
        self.value = linear(C, A, rng)
        self.output = linear(A, C, rng)
        self.ln_x = groupnorm(H, A, rng)


class TimeMixX052(nn.Module):  # RWKV_Tmix_x052
    def __init__(self, layer_id, rng):
        super().__init__()
        A = C
        r01, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        self.time_mix_k = nn.Parameter(rng.jitter(torch.pow(ddd, r10), MIX_JITTER))
        self.time_mix_v = nn.Parameter(rng.jitter(torch.pow(ddd, r10) + 0.3 * r01, MIX_JITTER))
        self.time_mix_r = nn.Parameter(rng.jitter(torch.pow(ddd, 0.5 * r10), MIX_JITTER))
        self.time_mix_g = nn.Parameter(rng.jitter(torch.pow(ddd, 0.5 * r10), MIX_JITTER))
        decay_speed = torch.ones(A)
        for n in range(A):
            decay_speed[n] = -6 + 5 * (n / (A - 1)) ** (0.7 + 1.3 * r01)
        self.time_decay = nn.Parameter(rng.jitter(decay_speed.reshape(H, N), DECAY_JITTER))
        tmp = torch.zeros(A)
        for n in range(A):
            zigzag = ((n + 1) % 3 - 1) * 0.1
            tmp[n] = r01 * (1 - (n / (A - 1))) + zigzag
        self.time_faaaa = nn.Parameter(rng.jitter(tmp.reshape(H, N), BONUS_JITTER))
        self.receptance = linear(C, A, rng)
        self.key = linear(C, A, rng)
        self.value = linear(C, A, rng)
        self.output = linear(A, C, rng)
        self.gate = linear(C, A, rng)
        self.ln_x = groupnorm(H, A, rng)


class TimeMixX060(nn.Module):  # RWKV_Tmix_x060
    def __init__(self, layer_id, rng):
        super().__init__()
        A = C
        r01, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        j = lambda t: rng.jitter(t, MIX_JITTER)
        self.time_maa_x = nn.Parameter(j(1.0 - torch.pow(ddd, r10)))
        self.time_maa_w = nn.Parameter(j(1.0 - torch.pow(ddd, r10)))
        self.time_maa_k = nn.Parameter(j(1.0 - torch.pow(ddd, r10)))
        self.time_maa_v = nn.Parameter(j(1.0 - (torch.pow(ddd, r10) + 0.3 * r01)))
        self.time_maa_r = nn.Parameter(j(1.0 - torch.pow(ddd, 0.5 * r10)))
        self.time_maa_g = nn.Parameter(j(1.0 - torch.pow(ddd, 0.5 * r10)))
        # trainer: w1 zeros, w2 uniform(+-0.01); here random so the LoRA matters
        self.time_maa_w1 = nn.Parameter(rng.normal((C, V6_MIX_LORA * 5), 1.0 / math.sqrt(C)))
        self.time_maa_w2 = nn.Parameter(rng.normal((5, V6_MIX_LORA, C), 0.05))
        decay_speed = torch.ones(A)
        for n in range(A):
            decay_speed[n] = -6 + 5 * (n / (A - 1)) ** (0.7 + 1.3 * r01)
        self.time_decay = nn.Parameter(rng.jitter(decay_speed.reshape(1, 1, A), DECAY_JITTER))
        self.time_decay_w1 = nn.Parameter(rng.normal((C, V6_DECAY_LORA), 1.0 / math.sqrt(C)))
        self.time_decay_w2 = nn.Parameter(rng.normal((V6_DECAY_LORA, A), 0.05))
        tmp = torch.zeros(A)
        for n in range(A):
            zigzag = ((n + 1) % 3 - 1) * 0.1
            tmp[n] = r01 * (1 - (n / (A - 1))) + zigzag
        self.time_faaaa = nn.Parameter(rng.jitter(tmp.reshape(H, N), BONUS_JITTER))
        self.receptance = linear(C, A, rng)
        self.key = linear(C, A, rng)
        self.value = linear(C, A, rng)
        self.output = linear(A, C, rng)
        self.gate = linear(C, A, rng)
        self.ln_x = groupnorm(H, A, rng, eps=1e-5 * 8 ** 2)


class ChannelMixX060(nn.Module):  # RWKV_CMix_x060
    def __init__(self, layer_id, dim_ffn, rng):
        super().__init__()
        _, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        self.time_maa_k = nn.Parameter(rng.jitter(1.0 - torch.pow(ddd, r10 ** 3), MIX_JITTER))
        self.time_maa_r = nn.Parameter(rng.jitter(1.0 - torch.pow(ddd, r10 ** 3), MIX_JITTER))
        self.key = linear(C, dim_ffn, rng)
        self.receptance = linear(C, C, rng)
        self.value = linear(dim_ffn, C, rng)


class TimeMixX070(nn.Module):  # RWKV_Tmix_x070 (training layout: v0/v1/v2 in every layer)
    def __init__(self, layer_id, rng):
        super().__init__()
        r01, r10 = ratios(layer_id, L)
        ddd = ddd_vec(C)
        j = lambda t: rng.jitter(t, MIX_JITTER)
        self.x_r = nn.Parameter(j(1.0 - torch.pow(ddd, 0.2 * r10)))
        self.x_w = nn.Parameter(j(1.0 - torch.pow(ddd, 0.9 * r10)))
        self.x_k = nn.Parameter(j(1.0 - torch.pow(ddd, 0.7 * r10)))
        self.x_v = nn.Parameter(j(1.0 - torch.pow(ddd, 0.7 * r10)))
        self.x_a = nn.Parameter(j(1.0 - torch.pow(ddd, 0.9 * r10)))
        self.x_g = nn.Parameter(j(1.0 - torch.pow(ddd, 0.2 * r10)))
        www = torch.zeros(C)
        zigzag = torch.zeros(C)
        lin = torch.zeros(C)
        for n in range(C):
            lin[n] = n / (C - 1) - 0.5
            zigzag[n] = ((n % N) - ((N - 1) / 2)) / ((N - 1) / 2)
            zigzag[n] = zigzag[n] * abs(zigzag[n])
            www[n] = -6 + 6 * (n / (C - 1)) ** (1 + 1 * r01 ** 0.3)
        Dw, Da, Dv, Dg = V7_LORA["decay_lora"], V7_LORA["a_lora"], V7_LORA["v_lora"], V7_LORA["gate_lora"]
        # trainer: *1 zeros, *2 orthogonal*0.1; here random normal so every LoRA matters
        self.w1 = nn.Parameter(rng.normal((C, Dw), 1.0 / math.sqrt(C)))
        self.w2 = nn.Parameter(rng.normal((Dw, C), 0.5 / math.sqrt(Dw)))
        self.w0 = nn.Parameter(rng.jitter(www.reshape(1, 1, C) + 0.5 + zigzag * 2.5, DECAY_JITTER))
        self.a1 = nn.Parameter(rng.normal((C, Da), 1.0 / math.sqrt(C)))
        self.a2 = nn.Parameter(rng.normal((Da, C), 0.5 / math.sqrt(Da)))
        self.a0 = nn.Parameter(rng.jitter(torch.zeros(1, 1, C) - 0.19 + zigzag * 0.3 + lin * 0.4, DECAY_JITTER))
        self.v1 = nn.Parameter(rng.normal((C, Dv), 1.0 / math.sqrt(C)))
        self.v2 = nn.Parameter(rng.normal((Dv, C), 0.5 / math.sqrt(Dv)))
        self.v0 = nn.Parameter(rng.jitter(torch.zeros(1, 1, C) + 0.73 - lin * 0.4, DECAY_JITTER))
        self.g1 = nn.Parameter(rng.normal((C, Dg), 1.0 / math.sqrt(C)))
        self.g2 = nn.Parameter(rng.normal((Dg, C), 1.0 / math.sqrt(Dg)))
        self.k_k = nn.Parameter(rng.jitter(torch.zeros(1, 1, C) + 0.71 - lin * 0.1, BONUS_JITTER))
        self.k_a = nn.Parameter(rng.jitter(torch.zeros(1, 1, C) + 1.02, BONUS_JITTER))
        self.r_k = nn.Parameter(rng.jitter(torch.zeros(H, N) - 0.04, BONUS_JITTER))
        self.receptance = linear(C, C, rng)
        self.key = linear(C, C, rng)
        self.value = linear(C, C, rng)
        self.output = linear(C, C, rng)
        self.ln_x = groupnorm(H, C, rng, eps=64e-5)


class ChannelMixX070(nn.Module):  # RWKV_CMix_x070
    def __init__(self, layer_id, rng):
        super().__init__()
        _, r10 = ratios(layer_id, L)
        self.x_k = nn.Parameter(rng.jitter(1.0 - torch.pow(ddd_vec(C), r10 ** 4), MIX_JITTER))
        self.key = linear(C, F_4X, rng)
        self.value = linear(F_4X, C, rng)


class ChannelMixX070DE(nn.Module):
    """RWKV-7 DeepEmbed channel-mix (rwkv7a). No public trainer: names/shapes from rwkv_v7a_demo.py and
    the rwkv package (s_emb.weight [V,1024], s_emb_x.weight [1024,C], s1 [C,32], s2 [32,F], s0 -> [F]).
    The declaration order and s0's stored shape ([1,1,F] here) are our choice."""

    def __init__(self, layer_id, rng):
        super().__init__()
        _, r10 = ratios(layer_id, L)
        self.x_k = nn.Parameter(rng.jitter(1.0 - torch.pow(ddd_vec(C), r10 ** 4), MIX_JITTER))
        self.s1 = nn.Parameter(rng.normal((C, DE_RANK), 1.0 / math.sqrt(C)))
        self.s2 = nn.Parameter(rng.normal((DE_RANK, F_4X), 0.3 / math.sqrt(DE_RANK)))
        self.s0 = nn.Parameter(rng.normal((1, 1, F_4X), 0.1, mean=1.0))
        self.key = linear(C, F_4X, rng)
        self.value = linear(F_4X, C, rng)
        self.s_emb = nn.Embedding(V, DE_DIM)
        set_(self.s_emb.weight, rng.normal((V, DE_DIM), 0.1))
        self.s_emb_x = nn.Linear(C, DE_DIM, bias=False)
        set_(self.s_emb_x.weight, rng.normal((DE_DIM, C), 0.1 / math.sqrt(C)))


class Block(nn.Module):
    def __init__(self, layer_id, make_att, make_ffn, rng):
        super().__init__()
        self.ln1 = layernorm(C, rng)
        self.ln2 = layernorm(C, rng)
        if layer_id == 0:
            self.ln0 = layernorm(C, rng)
        self.att = make_att(layer_id, rng)
        self.ffn = make_ffn(layer_id, rng)


class RWKV(nn.Module):
    def __init__(self, make_att, make_ffn, rng):
        super().__init__()
        self.emb = nn.Embedding(V, C)
        set_(self.emb.weight, rng.normal((V, C), 0.5))
        self.blocks = nn.ModuleList([Block(i, make_att, make_ffn, rng) for i in range(L)])
        self.ln_out = layernorm(C, rng)
        self.head = nn.Linear(C, V, bias=False)
        set_(self.head.weight, rng.normal((V, C), 1.0 / math.sqrt(C)))


ARCHS = {
    "4": dict(att=lambda i, r: TimeMixV4(i, r), ffn=lambda i, r: ChannelMixV4(i, F_4X, r), dim_ffn=F_4X, seed=4),
    "5.0": dict(att=lambda i, r: TimeMixV5Preview(i, r, gate=False), ffn=lambda i, r: ChannelMixV4(i, F_4X, r),
                dim_ffn=F_4X, seed=50),
    "5.1": dict(att=lambda i, r: TimeMixV5Preview(i, r, gate=True), ffn=lambda i, r: ChannelMixV4(i, F_35X, r),
                dim_ffn=F_35X, seed=51),
    "5.2": dict(att=lambda i, r: TimeMixX052(i, r), ffn=lambda i, r: ChannelMixV4(i, F_35X, r), dim_ffn=F_35X, seed=52),
    "6": dict(att=lambda i, r: TimeMixX060(i, r), ffn=lambda i, r: ChannelMixX060(i, F_35X, r), dim_ffn=F_35X, seed=6),
    "7": dict(att=lambda i, r: TimeMixX070(i, r), ffn=lambda i, r: ChannelMixX070(i, r), dim_ffn=F_4X, seed=7),
    "7-deepembed": dict(att=lambda i, r: TimeMixX070(i, r), ffn=lambda i, r: ChannelMixX070DE(i, r),
                        dim_ffn=F_4X, seed=70),
}


def build(version):
    arch = ARCHS[version]
    torch.manual_seed(GLOBAL_SEED)  # nn.* constructors draw from the global RNG (values are overwritten)
    rng = Rng(1000 + arch["seed"])
    model = RWKV(arch["att"], arch["ffn"], rng).eval()
    # The trainers save bf16 (DeepSpeed bf16). Round once to bf16 here: every file of the same model then
    # carries exactly the same values (bf16 -> fp32 is exact; bf16 -> fp16 is exact except for |x| < 2^-14).
    return model.to(torch.bfloat16)


def drop_layer0_v012(model):
    """Released v7 files have no blocks.0.att.v0/v1/v2 (the model ignores them in layer 0)."""
    for n in ("v0", "v1", "v2"):
        delattr(model.blocks[0].att, n)
    return model


# ---------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------


def canonicalize_legacy_keys(path, elsize):
    """torch's legacy writer names each storage by its C pointer (str(storage._cdata)), which changes from
    run to run, and writes the raw storages in the lexicographic order of those names. Rewrite the file as
    torch would have written it had the pointers been increasing in tensor order: key i (0-based order of
    first use in the main pickle) becomes str(10**(n-1) + 64*(i+1)) with the same digit count n, the sorted
    key list is rewritten accordingly, and the raw storage records are re-emitted in that order. Pickle
    bytes keep their lengths (same-length strings); nothing else changes."""
    data = bytearray(Path(path).read_bytes())
    bio = io.BytesIO(bytes(data))
    spans = []
    for _ in range(5):  # magic, protocol, sys_info, main pickle, sorted key list
        start = bio.tell()
        ops = []
        for op, arg, pos in pickletools.genops(bio):
            ops.append((op, arg, pos))
            if op.name == "STOP":
                break
        spans.append((start, bio.tell(), ops))
    keys = pickle.loads(bytes(data[spans[4][0]:spans[4][1]]))
    assert keys == sorted(keys) and len(set(map(len, keys))) == 1, keys
    klen = len(keys[0])
    keyset = set(keys)
    first_use = []
    for op, arg, pos in spans[3][2]:
        if op.name == "BINUNICODE" and arg in keyset and arg not in first_use:
            first_use.append(arg)
    assert sorted(first_use) == keys
    new = {k: str(10 ** (klen - 1) + 64 * (i + 1)) for i, k in enumerate(first_use)}
    assert all(len(v) == klen for v in new.values())
    new_sorted = sorted(new.values())
    assert new_sorted == [new[k] for k in first_use]

    def patch(pos, old, repl):
        s = pos + 5  # pos is absolute in the stream; skip opcode byte + 4-byte length
        assert data[s:s + klen] == old.encode()
        data[s:s + klen] = repl.encode()

    n_main = 0
    for op, arg, pos in spans[3][2]:
        if op.name == "BINUNICODE" and arg in keyset:
            patch(pos, arg, new[arg])
            n_main += 1
    list_ops = [(arg, pos) for op, arg, pos in spans[4][2] if op.name == "BINUNICODE"]
    assert [a for a, _ in list_ops] == keys and n_main == len(keys)
    for (arg, pos), repl in zip(list_ops, new_sorted):
        patch(pos, arg, repl)
    # raw records: int64 element count + count*elsize bytes, in the (old) sorted key order
    off = spans[4][1]
    records = {}
    for k in keys:
        count = int.from_bytes(data[off:off + 8], "little", signed=True)
        end = off + 8 + count * elsize
        records[new[k]] = bytes(data[off:end])
        off = end
    assert off == len(data), (off, len(data))
    out = bytes(data[:spans[4][1]]) + b"".join(records[k] for k in new_sorted)
    assert len(out) == len(data)
    Path(path).write_bytes(out)


def save(model, name, dtype, legacy=False):
    path = HERE / name
    m = model.to(dtype)
    if legacy:
        sd = m.state_dict()
        torch.save(sd, path, _use_new_zipfile_serialization=False)
        canonicalize_legacy_keys(path, torch.empty((), dtype=dtype).element_size())
        back = torch.load(path, map_location="cpu", weights_only=True)
        assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
        assert back._metadata == sd._metadata
    else:
        torch.save(m.state_dict(), path)
    return path


DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tensor_list(path):
    sd = torch.load(path, map_location="cpu", weights_only=True)
    out = []
    for k, t in sd.items():
        out.append(dict(name=k, dtype=DTYPE_NAMES[t.dtype], shape=list(t.shape),
                        sha256=hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()))
    return out, sd


# ---------------------------------------------------------------------------------------------------
# Checkpoint list
# ---------------------------------------------------------------------------------------------------

CHECKPOINTS = [
    # name, version, dtype, container, layout, same-weights group
    ("v4-bf16.pth", "4", torch.bfloat16, "zip", "standard", "v4"),
    ("v4-fp16.pth", "4", torch.float16, "zip", "standard", "v4"),
    ("v4-bf16-legacy.pth", "4", torch.bfloat16, "legacy", "standard", "v4"),
    ("v5.0-bf16.pth", "5.0", torch.bfloat16, "zip", "standard", "v5.0"),
    ("v5.1-bf16.pth", "5.1", torch.bfloat16, "zip", "standard", "v5.1"),
    ("v5.2-bf16.pth", "5.2", torch.bfloat16, "zip", "standard", "v5.2"),
    ("v6-bf16.pth", "6", torch.bfloat16, "zip", "standard", "v6"),
    ("v7-bf16.pth", "7", torch.bfloat16, "zip", "release", "v7"),
    ("v7-fp16.pth", "7", torch.float16, "zip", "release", "v7"),
    ("v7-fp32.pth", "7", torch.float32, "zip", "training", "v7"),
    ("v7de-bf16.pth", "7-deepembed", torch.bfloat16, "zip", "release", "v7de"),
]

LAYOUT_NOTES = {
    "standard": "trainer layout (RWKV-LM state_dict order)",
    "release": "released RWKV-7 layout: layer 0 has NO att.v0/att.v1/att.v2 (BlinkDL release files omit them)",
    "training": "RWKV-7 training layout: layer 0 DOES have att.v0/att.v1/att.v2 (random values; the model "
                "ignores them in layer 0, so the logits equal the release layout's)",
}


ARCH_NOTES = {
    "4": "BlinkDL/RWKV-LM RWKV-v4neo/src/model.py RWKV_TimeMix + RWKV_ChannelMix; dim_ffn = 4C",
    "5.0": "RWKV-v4neo/src/model.py RWKV_TimeMix_RWKV5_Preview (RWKV_MY_TESTING 'r', no 'r2'/'r3'): time_decay [H], "
           "time_first [H] (log-space: u = exp(time_first)); dim_ffn = 4C (v4neo train.py without 'r3')",
    "5.1": "RWKV-v4neo/src/model.py RWKV_TimeMix_RWKV5_Preview with 'r3' (gate + time_mix_g; the gate Linear is "
           "declared first among the children); time_first [H] (log-space); dim_ffn = int(3.5C//32*32) ('r3')",
    "5.2": "RWKV-v5/src/model.py RWKV_Tmix_x052 + RWKV_CMix_x052; time_decay/time_faaaa [H,N]; dim_ffn = int(3.5C//32*32)",
    "6": "RWKV-v5/src/model.py RWKV_Tmix_x060 + RWKV_CMix_x060; dim_ffn = int(3.5C//32*32)",
    "7": "RWKV-v7/train_temp/src/model.py RWKV_Tmix_x070 + RWKV_CMix_x070 (att order: x_r..x_g, w1, w2, w0, a1, a2, "
         "a0, v1, v2, v0, g1, g2, k_k, k_a, r_k, receptance, key, value, output, ln_x); dim_ffn = 4C",
    "7-deepembed": "v7 att + DeepEmbed ffn (tensor names/shapes as used by RWKV-v7/rwkv_v7a_demo.py and the rwkv "
                   "package with RWKV_DE_VERSION=1). No public trainer: the ffn declaration order (x_k, s1, s2, s0, "
                   "key, value, s_emb, s_emb_x) and s0's stored shape [1,1,F] are our choice, not verified "
                   "against a released file",
}


def official_name(ckpt_name):
    return ckpt_name[:-len(".pth")] + ".official.safetensors"


def hyperparams(version):
    hp = dict(n_layer=L, n_embd=C, vocab_size=V, dim_att=C, dim_ffn=ARCHS[version]["dim_ffn"])
    if version == "4":
        hp.update(head_size=None, n_head=None)
    else:
        hp.update(head_size=N, n_head=H)
    if version == "6":
        hp.update(time_mix_extra_dim=V6_MIX_LORA, time_decay_extra_dim=V6_DECAY_LORA)
    if version.startswith("7"):
        hp.update(V7_LORA)
    if version == "7-deepembed":
        hp.update(deepembed=dict(s_emb_dim=DE_DIM, s_emb_view=[32, 32], s_rank=DE_RANK,
                                 s0_stored_shape=[1, 1, F_4X]))
    return hp


def state_meanings(version):
    if version == "4":
        per = [("att_sx", "[C] time-mix token shift: ln1 output of the previous token (activation dtype)"),
               ("att_aa", "[A] f32 WKV numerator"),
               ("att_bb", "[A] f32 WKV denominator"),
               ("att_pp", "[A] f32 WKV shared exponent (starts at -1e30)"),
               ("ffn_sx", "[C] channel-mix token shift: ln2 output of the previous token")]
    elif version.startswith("7"):
        per = [("att_x_prev", "[C] time-mix token shift: ln1 output of the previous token"),
               ("att_S", "[H,N,N] f32 WKV state, S[h][i=value][j=key] (y = S @ r)"),
               ("ffn_x_prev", "[C] channel-mix token shift: ln2 output of the previous token")]
    else:
        per = [("att_sx", "[C] time-mix token shift: ln1 output of the previous token"),
               ("att_S", "[H,N,N] f32 WKV state, CPU layout S[h][i=key][j=value] (y = r @ (u*k v^T + S))"),
               ("ffn_sx", "[C] channel-mix token shift: ln2 output of the previous token")]
    return per


# ---------------------------------------------------------------------------------------------------
# Official package run (subprocess)
# ---------------------------------------------------------------------------------------------------


def child_env(version):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("RWKV_"):
            del env[k]  # in particular RWKV_RESCALE_LAYER: never rescale
    env.update(RWKV_JIT_ON="0", RWKV_CUDA_ON="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="")
    if version.startswith("7"):
        env["RWKV_V7_ON"] = "1"
    if version == "7-deepembed":
        env["RWKV_DE_VERSION"] = "1"
    return env


def run_official_subprocess(name, version, log):
    res_path = HERE / (name + ".tmp.json")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--official", name, "--version", version,
           "--result", str(res_path)]
    p = subprocess.run(cmd, env=child_env(version), capture_output=True, text=True)
    log.write(f"===== {name} (exit {p.returncode})\n{p.stdout}\n{p.stderr}\n")
    if p.returncode != 0 or not res_path.exists():
        return dict(ok=False, error=(p.stderr.strip().splitlines() or ["?"])[-1])
    res = json.loads(res_path.read_text())
    res_path.unlink()
    return res


def close(a, b, tol=1e-4):
    return float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


def verify_first_token_state(model, version, t0, st):
    """Check the meaning/orientation of the state elements after ONE token from the zero state,
    recomputing k and v of layer 0 from the package's own (pre-processed) weights."""
    checks = {}
    if version.startswith("7"):
        z = model.z
        x = z["emb.weight"][t0]
        xx = F.layer_norm(x, (C,), weight=z["blocks.0.ln1.weight"], bias=z["blocks.0.ln1.bias"])
        checks["att_x_prev == ln1(emb[t0])"] = close(st[0], xx)
        v = (xx - xx * z["blocks.0.att.x_v"]) @ z["blocks.0.att.value.weight"]  # x_prev = 0
        vh = v.view(H, N)
        S = st[1]
        c = torch.einsum("hi,hij->hj", vh, S) / (vh * vh).sum(-1, keepdim=True)
        checks["S[h] == outer(v_h, k'_h) (rows = value index)"] = close(S, torch.einsum("hi,hj->hij", vh, c))
        c2 = torch.einsum("hj,hij->hi", vh, S) / (vh * vh).sum(-1, keepdim=True)
        checks["(S is NOT key-major)"] = not close(S, torch.einsum("hi,hj->hij", c2, vh))
        return checks
    w = model.w
    a = "blocks.0.att."
    x = w["emb.weight"][t0].float()
    xx = F.layer_norm(x, (C,), weight=w["blocks.0.ln1.weight"].float(), bias=w["blocks.0.ln1.bias"].float())
    checks["att_sx == ln1(emb[t0])"] = close(st[0], xx)
    if version == "6":
        sx = -xx
        xxx = torch.tanh((xx + sx * w[a + "time_maa_x"]) @ w[a + "time_maa_w1"]).view(5, 1, -1)
        mw, mk, mv, mr, mg = torch.bmm(xxx, w[a + "time_maa_w2"]).view(5, -1).unbind(0)
        kx = xx + sx * (w[a + "time_maa_k"] + mk)
        vx = xx + sx * (w[a + "time_maa_v"] + mv)
    else:
        kx = xx * w[a + "time_mix_k"]
        vx = xx * w[a + "time_mix_v"]
    k = kx @ w[a + "key.weight"]
    v = vx @ w[a + "value.weight"]
    if version == "4":
        checks["att_aa == v (after 1 token)"] = close(st[1], v)
        checks["att_bb == 1 (after 1 token)"] = close(st[2], torch.ones_like(st[2]))
        checks["att_pp == k (after 1 token)"] = close(st[3], k)
    else:
        S = st[1]
        checks["S[h] == outer(k_h, v_h) (rows = key index)"] = close(S, torch.einsum("hi,hj->hij", k.view(H, N), v.view(H, N)))
        checks["(S is NOT value-major)"] = not close(S, torch.einsum("hi,hj->hij", v.view(H, N), k.view(H, N)))
    return checks


def official_main(name, version, result_path):
    torch.set_num_threads(1)
    from safetensors.torch import save_file
    from rwkv.model import RWKV as OfficialRWKV

    path = HERE / name
    res = dict(ok=True, env={k: v for k, v in sorted(os.environ.items()) if k.startswith("RWKV_")})
    if version.startswith("7"):
        assert OfficialRWKV.__name__ == "RWKV_x070"
        model = OfficialRWKV(str(path)[:-len(".pth")], STRATEGY)  # this loader appends '.pth' itself
        res["package_class"] = "RWKV_x070"
        res["package_jit"] = "always TorchScript (RWKV_x070 is a torch.jit.ScriptModule regardless of RWKV_JIT_ON)"
        res["rescale_layer"] = "none (RWKV_x070 has no RESCALE_LAYER code)"
    else:
        model = OfficialRWKV(str(path), STRATEGY, verbose=False)
        res["package_class"] = "RWKV"
        res["package_detected_version"] = float(model.version)
        res["rescale_layer"] = int(model.RESCALE_LAYER)
        assert model.RESCALE_LAYER == 0, "fp32 strategy must not rescale"
        # Which precision did the package fold ln0 into emb with? (quirk: the file dtype, for v4-v6)
        raw = torch.load(path, map_location="cpu", weights_only=True)
        e, lw, lb = raw["emb.weight"], raw["blocks.0.ln0.weight"], raw["blocks.0.ln0.bias"]
        in_dtype = F.layer_norm(e, (C,), weight=lw, bias=lb).float()
        in_f32 = F.layer_norm(e.float(), (C,), weight=lw.float(), bias=lb.float())
        got = model.w["emb.weight"].float()
        res["ln0_fold"] = dict(
            precision=("file dtype (%s)" % DTYPE_NAMES[e.dtype]) if torch.equal(got, in_dtype)
            else ("fp32" if torch.equal(got, in_f32) else "unknown"),
            max_abs_diff_vs_fp32_fold=float((got - in_f32).abs().max()))
    with torch.no_grad():
        out, st = model.forward(list(TOKENS), None, full_output=True)
        logits_seq = out.detach().float().clone()
        state_seq = [s.detach().float().clone() for s in st]
        rows, state, first = [], None, None
        for i, t in enumerate(TOKENS):
            out, state = model.forward([t], state)
            rows.append(out.detach().float().clone().reshape(-1))
            state = [s.clone() for s in state]
            if i == 0:
                first = [s.detach().float().clone() for s in state]
        logits_tok = torch.stack(rows)
        state_tok = [s.detach().float().clone() for s in state]
        checks = verify_first_token_state(model, version, TOKENS[0], first)
    assert logits_seq.shape == (len(TOKENS), V) and logits_tok.shape == (len(TOKENS), V)
    tensors = {"logits_seq": logits_seq.contiguous(), "logits_tok": logits_tok.contiguous()}
    for i, s in enumerate(state_seq):
        tensors[f"state_seq.{i}"] = s.contiguous()
    for i, s in enumerate(state_tok):
        tensors[f"state_tok.{i}"] = s.contiguous()
    from importlib.metadata import version as pkg_version
    # one metadata entry only: safetensors keeps metadata in a hash map, so several keys would be written
    # in a random order and the file would not be reproducible
    meta = {"golden": json.dumps(dict(checkpoint=name, strategy=STRATEGY, rwkv=pkg_version("rwkv"),
                                      torch=torch.__version__, tokens=TOKENS), sort_keys=True)}
    save_file(tensors, str(HERE / official_name(name)), metadata=meta)
    os.chmod(HERE / official_name(name), 0o644)
    res.update(
        state_len=len(state_seq),
        state_shapes=[list(s.shape) for s in state_seq],
        state_dtypes_in_package=[str(s.dtype).replace("torch.", "") for s in st],
        max_abs_diff_seq_vs_tok=float((logits_seq - logits_tok).abs().max()),
        max_abs_diff_state_seq_vs_tok=max(float((a - b).abs().max()) for a, b in zip(state_seq, state_tok)),
        max_abs_logit=float(logits_seq.abs().max()),
        state_layout_checks=checks,
    )
    Path(result_path).write_text(json.dumps(res))


# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------


def versions():
    import numpy
    import safetensors
    from importlib.metadata import version as pkg_version
    return dict(python=platform.python_version(), torch=torch.__version__, rwkv=pkg_version("rwkv"),
                numpy=numpy.__version__, safetensors=safetensors.__version__)


def main():
    torch.set_num_threads(1)
    HERE.mkdir(parents=True, exist_ok=True)

    # 1. checkpoints ------------------------------------------------------------------------------
    models = {}
    for group, version in [("v4", "4"), ("v5.0", "5.0"), ("v5.1", "5.1"), ("v5.2", "5.2"), ("v6", "6"),
                           ("v7", "7"), ("v7de", "7-deepembed")]:
        models[group] = build(version)
    for name, version, dtype, container, layout, group in CHECKPOINTS:
        m = copy.deepcopy(models[group])  # nn.Module.to() is in place: never cast the shared model
        if layout == "release":
            drop_layer0_v012(m)
        save(m, name, dtype, legacy=(container == "legacy"))
        print(f"wrote {name}")

    # 2. official outputs -------------------------------------------------------------------------
    entries = []
    logpath = Path(os.environ.get("TMPDIR", "/tmp")) / "make_golden_official.log"
    with open(logpath, "w") as log:
        for name, version, dtype, container, layout, group in CHECKPOINTS:
            res = run_official_subprocess(name, version, log)
            print(f"official {name}: {'ok' if res.get('ok') else 'FAILED: ' + res.get('error', '')}")
            tensors, _ = tensor_list(HERE / name)
            e = dict(
                file=name,
                container=container,
                dtype=DTYPE_NAMES[dtype],
                file_sha256=sha256_file(HERE / name),
                file_size=(HERE / name).stat().st_size,
                version=version,
                layout=layout,
                layout_notes=LAYOUT_NOTES[layout],
                architecture=ARCH_NOTES[version],
                same_weights_as=[n for (n, _v, _d, _c, _l, g) in CHECKPOINTS if g == group and n != name],
                hyperparams=hyperparams(version),
                tensors=tensors,
            )
            if container == "zip":
                import zipfile
                with zipfile.ZipFile(HERE / name) as z:
                    e["zip_prefix"] = [n for n in z.namelist() if n.endswith("/data.pkl")][0][:-len("/data.pkl")]
            else:
                e["legacy_note"] = ("written by torch.save(state_dict, path, _use_new_zipfile_serialization=False). "
                                    "torch names legacy storages by C pointer and writes them in sorted-name order, "
                                    "which changes every run; for reproducibility the 14-digit keys were renamed to "
                                    "10000000000064, ...128, ... in tensor order (same length) and the raw records "
                                    "re-emitted in that sorted order, i.e. the file torch writes when pointers "
                                    "increase in tensor order. Storage keys: 1 per tensor, data = int64 count + bytes.")
            if res.get("ok"):
                per = state_meanings(version)
                meanings = []
                for i, shp in enumerate(res["state_shapes"]):
                    layer, j = divmod(i, len(per))
                    meanings.append(dict(index=i, layer=layer, name=per[j][0], meaning=per[j][1], shape=shp,
                                         package_dtype=res["state_dtypes_in_package"][i]))
                e["official"] = dict(
                    file=official_name(name),
                    file_sha256=sha256_file(HERE / official_name(name)),
                    strategy=STRATEGY,
                    tokens=TOKENS,
                    call_seq="model.forward(tokens, None, full_output=True) -> logits_seq [T,V], state_seq.*",
                    call_tok="state=None; for t in tokens: logits, state = model.forward([t], state) -> logits_tok [T,V] (stacked), state_tok.*",
                    tensors=["logits_seq", "logits_tok"] + [f"state_seq.{i}" for i in range(res["state_len"])]
                    + [f"state_tok.{i}" for i in range(res["state_len"])],
                    state_per_layer=len(per),
                    state=meanings,
                    package_class=res["package_class"],
                    rescale_layer=res["rescale_layer"],
                    env=res["env"],
                    state_layout_checks=res["state_layout_checks"],
                    max_abs_diff_seq_vs_tok=res["max_abs_diff_seq_vs_tok"],
                    max_abs_diff_state_seq_vs_tok=res["max_abs_diff_state_seq_vs_tok"],
                    max_abs_logit=res["max_abs_logit"],
                )
                if "package_detected_version" in res:
                    e["official"]["package_detected_version"] = res["package_detected_version"]
                if container == "legacy":
                    e["official"]["legacy_read_by_official_loader"] = True
                if res.get("ln0_fold"):
                    e["official"]["ln0_fold"] = res["ln0_fold"]
                if res.get("package_jit"):
                    e["official"]["package_jit"] = res["package_jit"]
            else:
                e["official"] = dict(file=None, error=res.get("error"))
            entries.append(e)

    # cross-file consistency facts (computed, for the record)
    from safetensors.torch import load_file
    def logits(n):
        return load_file(str(HERE / official_name(n)))["logits_tok"]
    notes = {}
    for a, b in [("v4-bf16.pth", "v4-bf16-legacy.pth"), ("v7-bf16.pth", "v7-fp32.pth"), ("v7-bf16.pth", "v7-fp16.pth"),
                 ("v4-bf16.pth", "v4-fp16.pth")]:
        if (HERE / official_name(a)).exists() and (HERE / official_name(b)).exists():
            notes[f"max|logits_tok({a}) - logits_tok({b})|"] = float((logits(a) - logits(b)).abs().max())

    def weight_diff(a, b):
        sa = torch.load(HERE / a, map_location="cpu", weights_only=True)
        sb = torch.load(HERE / b, map_location="cpu", weights_only=True)
        common = [k for k in sa if k in sb]
        n_diff = sum(int((sa[k].float() != sb[k].float()).sum()) for k in common)
        return dict(common_tensors=len(common), only_in_first=[k for k in sa if k not in sb],
                    only_in_second=[k for k in sb if k not in sa], values_differing_after_f32_widening=n_diff)
    weight_checks = {f"{a} vs {b}": weight_diff(a, b) for a, b in
                     [("v4-bf16.pth", "v4-bf16-legacy.pth"), ("v4-bf16.pth", "v4-fp16.pth"),
                      ("v7-bf16.pth", "v7-fp32.pth"), ("v7-bf16.pth", "v7-fp16.pth")]}

    manifest = dict(
        description="Tiny random RWKV checkpoints (BlinkDL .pth layout) and the official rwkv package's outputs. "
                    "See README.md.",
        regenerate="pip install -r golden/requirements.txt && python golden/make_golden.py",
        versions=versions(),
        shape=dict(n_embd=C, n_layer=L, vocab_size=V, head_size=N, n_head=H),
        tokens=TOKENS,
        strategy=STRATEGY,
        values=("trainer init formulas for time-mix/maa/x_*, decay, bonus, w0/a0/v0, k_k/k_a/r_k vectors plus fixed "
                "N(0, 0.02^2..0.1^2) jitter; every matrix random normal (std 1/sqrt(fan_in), LoRA second halves "
                "0.05..0.5/sqrt(rank)) including those the trainers zero; LayerNorm/GroupNorm weight 1+N(0,0.1^2), "
                "bias N(0,0.1^2); emb N(0,0.5^2); all rounded once to bf16 (so every dtype variant of a model holds "
                "the same values). Checked: perturbing any single tensor changes the official logits, except "
                "blocks.0.att.v0/v1/v2 of v7-fp32.pth (ignored by design)."),
        quirks=[
            "v4/v5.x/v6: the package applies blocks.0.ln0 to emb.weight in the FILE dtype (bf16/fp16 LayerNorm) "
            "before converting to fp32, so the official logits of bf16/fp16 files include that rounding; v7 "
            "converts to fp32 first.",
            "v5.x/v6 package CPU state is S[h][key][value]; v7 state is S[h][value][key].",
            "v7 decay on CPU: exp(-0.606531 * sigmoid(w0 + lora)).",
            "The package detects v4/5.x/6 from key names; v7 needs RWKV_V7_ON=1 and DeepEmbed RWKV_DE_VERSION=1.",
            "fp32 strategy: RESCALE_LAYER = 0 (no rescaling); RWKV_RESCALE_LAYER was unset for every run.",
        ],
        cross_checks=dict(official_logits=notes, weights=weight_checks,
                          note="fp16 files are the bf16 values cast to fp16: exact except where |x| < 2^-14 "
                               "(fp16 subnormals); the v7 fp32 file holds the bf16 values exactly"),
        checkpoints=entries,
    )
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote manifest.json (official-run log: {logpath})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--official")
    ap.add_argument("--version")
    ap.add_argument("--result")
    a = ap.parse_args()
    if a.official:
        official_main(a.official, a.version, a.result)
    else:
        main()
