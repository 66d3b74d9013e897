#!/usr/bin/env python3
"""Write a random-weight RWKV-7 checkpoint (.pth) in BlinkDL's RELEASED layout, for benchmarks.

    python bench/make_v7_model.py --out /tmp/rwkv7-rand-0.1b.pth            # 12 x 768, V=65536, bf16 (~191M params)
    python bench/make_v7_model.py --layers 24 --embd 1024 --dtype fp16 --out /tmp/r7.pth

Needs only torch. The file is `torch.save(module.state_dict(), out)` of an nn.Module whose parameter names
and declaration order follow BlinkDL/RWKV-LM RWKV-v7/train_temp/src/model.py (RWKV_Tmix_x070 /
RWKV_CMix_x070), minus blocks.0.att.v0/v1/v2 as in released files. LoRA ranks follow the trainer's
suggestion max(32, round(k*sqrt(C)/32)*32) with k = 2.5 (w), 2.5 (a), 1.7 (v), 5 (g); F = 4C.
Values are fast scaled torch.randn (no orthogonal init), seeded; the model is random, so its outputs are
meaningless but numerically well-behaved.
"""

import os
import sys

# Python puts this script's folder first on sys.path; bench/ also holds a script named inspect.py, which
# would shadow the standard-library module that torch imports. Drop the folder from the path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def lora_dim(k, C):
    return max(32, int(round((k * (C ** 0.5)) / 32) * 32))


class Maker:
    def __init__(self, seed, dtype):
        self.g = torch.Generator().manual_seed(seed)
        self.dtype = dtype

    def param(self, *shape, std=1.0, mean=0.0):
        t = torch.randn(*shape, generator=self.g, dtype=torch.float32)
        if std != 1.0:
            t.mul_(std)
        if mean != 0.0:
            t.add_(mean)
        return nn.Parameter(t.to(self.dtype), requires_grad=False)

    def vec(self, base, jitter):  # base: float tensor [C] -> [1,1,C]
        t = base + jitter * torch.randn(base.shape, generator=self.g)
        return nn.Parameter(t.reshape(1, 1, -1).to(self.dtype), requires_grad=False)

    def linear(self, fan_in, fan_out):
        m = nn.Linear(fan_in, fan_out, bias=False, device="meta")
        m.weight = self.param(fan_out, fan_in, std=1.0 / math.sqrt(fan_in))
        return m

    def layernorm(self, dim):
        m = nn.LayerNorm(dim, device="meta")
        m.weight = self.param(dim, std=0.1, mean=1.0)
        m.bias = self.param(dim, std=0.1)
        return m

    def groupnorm(self, groups, dim):
        m = nn.GroupNorm(groups, dim, eps=64e-5, device="meta")
        m.weight = self.param(dim, std=0.1, mean=1.0)
        m.bias = self.param(dim, std=0.1)
        return m


class TMix(nn.Module):
    def __init__(self, mk, layer_id, n_layer, C, head_size):
        super().__init__()
        H, N = C // head_size, head_size
        r01 = layer_id / (n_layer - 1) if n_layer > 1 else 0.0
        r10 = 1.0 - layer_id / n_layer
        ddd = torch.arange(C, dtype=torch.float32) / C
        n = torch.arange(C, dtype=torch.float32)
        lin = n / (C - 1) - 0.5
        zz = ((n % N) - (N - 1) / 2) / ((N - 1) / 2)
        zz = zz * zz.abs()
        www = -6 + 6 * (n / (C - 1)) ** (1 + r01 ** 0.3)
        Dw, Da, Dv, Dg = lora_dim(2.5, C), lora_dim(2.5, C), lora_dim(1.7, C), lora_dim(5, C)
        self.x_r = mk.vec(1.0 - ddd ** (0.2 * r10), 0.02)
        self.x_w = mk.vec(1.0 - ddd ** (0.9 * r10), 0.02)
        self.x_k = mk.vec(1.0 - ddd ** (0.7 * r10), 0.02)
        self.x_v = mk.vec(1.0 - ddd ** (0.7 * r10), 0.02)
        self.x_a = mk.vec(1.0 - ddd ** (0.9 * r10), 0.02)
        self.x_g = mk.vec(1.0 - ddd ** (0.2 * r10), 0.02)
        self.w1 = mk.param(C, Dw, std=1.0 / math.sqrt(C))
        self.w2 = mk.param(Dw, C, std=0.5 / math.sqrt(Dw))
        self.w0 = mk.vec(www + 0.5 + zz * 2.5, 0.1)
        self.a1 = mk.param(C, Da, std=1.0 / math.sqrt(C))
        self.a2 = mk.param(Da, C, std=0.5 / math.sqrt(Da))
        self.a0 = mk.vec(-0.19 + zz * 0.3 + lin * 0.4, 0.1)
        if layer_id > 0:  # released files have no v0/v1/v2 in layer 0
            self.v1 = mk.param(C, Dv, std=1.0 / math.sqrt(C))
            self.v2 = mk.param(Dv, C, std=0.5 / math.sqrt(Dv))
            self.v0 = mk.vec(0.73 - lin * 0.4, 0.1)
        self.g1 = mk.param(C, Dg, std=1.0 / math.sqrt(C))
        self.g2 = mk.param(Dg, C, std=1.0 / math.sqrt(Dg))
        self.k_k = mk.vec(0.71 - lin * 0.1, 0.1)
        self.k_a = mk.vec(torch.full((C,), 1.02), 0.1)
        self.r_k = mk.param(H, N, std=0.1, mean=-0.04)
        self.receptance = mk.linear(C, C)
        self.key = mk.linear(C, C)
        self.value = mk.linear(C, C)
        self.output = mk.linear(C, C)
        self.ln_x = mk.groupnorm(H, C)


class CMix(nn.Module):
    def __init__(self, mk, layer_id, n_layer, C):
        super().__init__()
        r10 = 1.0 - layer_id / n_layer
        self.x_k = mk.vec(1.0 - (torch.arange(C, dtype=torch.float32) / C) ** (r10 ** 4), 0.02)
        self.key = mk.linear(C, 4 * C)
        self.value = mk.linear(4 * C, C)


class Block(nn.Module):
    def __init__(self, mk, layer_id, n_layer, C, head_size):
        super().__init__()
        self.ln1 = mk.layernorm(C)
        self.ln2 = mk.layernorm(C)
        if layer_id == 0:
            self.ln0 = mk.layernorm(C)
        self.att = TMix(mk, layer_id, n_layer, C, head_size)
        self.ffn = CMix(mk, layer_id, n_layer, C)


class RWKV7(nn.Module):
    def __init__(self, mk, n_layer, C, V, head_size):
        super().__init__()
        self.emb = nn.Embedding(V, C, device="meta")
        self.emb.weight = mk.param(V, C, std=0.5)
        self.blocks = nn.ModuleList([Block(mk, i, n_layer, C, head_size) for i in range(n_layer)])
        self.ln_out = mk.layernorm(C)
        self.head = mk.linear(C, V)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--head-size", type=int, default=64)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True, help="output .pth path")
    a = ap.parse_args()
    assert a.embd % a.head_size == 0, "--embd must be a multiple of --head-size"
    t0 = time.time()
    mk = Maker(a.seed, DTYPES[a.dtype])
    model = RWKV7(mk, a.layers, a.embd, a.vocab, a.head_size)
    sd = model.state_dict()
    n_params = sum(t.numel() for t in sd.values())
    torch.save(sd, a.out)
    print(f"wrote {a.out}: RWKV-7 L={a.layers} C={a.embd} V={a.vocab} head_size={a.head_size} {a.dtype}, "
          f"{len(sd)} tensors, {n_params / 1e6:.1f}M params, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
