#!/usr/bin/env python3
"""LoRA merge benchmark: `rwkv-convert convert … --lora` (merge + GGUF in one step) against RWKV-PEFT's
own `merge/merge_lora.py` (torch, CPU) followed by a plain conversion of its merged `.pth`.

    /opt/llamaenv/bin/python bench/lora_merge_bench.py [--rounds 3] [--models small,large] [--json]

Needs torch, numpy and the `gguf` package (all in /opt/llamaenv). For each synth RWKV-7 model
(`small`: 12 x 768, ~191M params; `large`: 24 x 2048, ~1.5B; made with `rwkv-convert synth` if
missing) it makes, once and seeded, an RWKV-PEFT-format LoRA adapter (rank 32, bf16, `X.lora_A`
[r, in] ~ U(±1/sqrt(in)) as PEFT initialises A, `X.lora_B` [out, r] ~ N(0, 0.01²)) for every
layer's att.receptance/key/value/output and ffn.key/value matrix, kept in $BENCH_DIR
(default /tmp/rwkv-convert-bench) for reuse. Then, in rounds, each round running all four back
to back:

    a  rwkv-convert convert BASE --to gguf A.gguf --outtype bf16 --force           (conversion alone)
    b  … the same with --lora ADAPTER --lora-alpha 32                           (merge + conversion)
    c  merge_lora.py 32 BASE ADAPTER MERGED.pth        (OMP_NUM_THREADS=2, device cpu)
    d  rwkv-convert convert MERGED.pth --to gguf D.gguf --outtype bf16 --force

(and, for reading c, `python -c "import torch"` alone). Each output is deleted as soon as the round
no longer needs it, so the disk holds at most merged.pth + d's GGUF (~2x the base) at once.
Before each command: `sync` (timed, and charged to the previous command as its "flush": the
dirty pages it left behind; rwkv-convert fsyncs its output itself, torch.save does not) and, when
permitted, `echo 3 > /proc/sys/vm/drop_caches` (cold page cache; otherwise the report says warm).
Wall time is measured around `/usr/bin/time -v -o …` (which gives peak RSS, CPU times and file
system writes) and, sampled from /proc every 50 ms, how the peak splits into anonymous memory and
mapped file pages (page cache the kernel can take back); tables give medians over the rounds
(min–max alongside).

Afterwards, untimed, b, c and d run once more with their outputs in /dev/shm (when it has room) for
the check: every tensor of b's GGUF against d's (the
merged matrices element by element as bf16; every other tensor byte for byte), and both against
the correctly rounded merge (W + B·A·α/r computed exactly in f64 from the base and adapter files,
rounded once to nearest-even bf16).

Every output (GGUFs, merged .pth) is deleted at the end; the adapters stay.
"""
import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.environ.get("BENCH_DIR", "/tmp/rwkv-convert-bench")
PEFT_MIRROR = "/work/.mirror/JL-er+RWKV-PEFT/repo"
MODELS = {"small": (12, 768), "large": (24, 2048)}
TARGETS = ["att.receptance", "att.key", "att.value", "att.output", "ffn.key", "ffn.value"]
GGUF_NAME = {"att.receptance": "time_mix_receptance", "att.key": "time_mix_key", "att.value": "time_mix_value",
             "att.output": "time_mix_output", "ffn.key": "channel_mix_key", "ffn.value": "channel_mix_value"}
RANK, ALPHA, SIGMA_B, SEED = 32, 32, 0.01, 0


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rm(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)


def can_drop_caches():
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def settle(drop):
    """sync (timed: the previous command's flush), then drop the page cache if allowed."""
    t = time.perf_counter()
    os.sync()
    flush = time.perf_counter() - t
    if drop:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    time.sleep(0.5)
    return flush


def proc_rss(pid):
    """RssAnon / RssFile (KiB) of a process now, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            d = {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("RssAnon", "RssFile", "RssShmem"))}
        return d
    except (OSError, ValueError, IndexError):
        return None


def measure(cmd, env=None):
    """Wall time around `/usr/bin/time -v`, its figures, and (sampled every 50 ms from /proc) how the
    command's peak splits into anonymous memory and mapped file pages (page cache it can give back)."""
    tf = os.path.join(DIR, "lora-bench.time")
    rm(tf)
    t = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env)
    child, anon, filed = None, 0, 0
    stderr = b""
    while True:
        try:
            stderr += p.communicate(timeout=0.05)[1] or b""
            break
        except subprocess.TimeoutExpired:
            pass
        if child is None:
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    kids = f.read().split()
                child = int(kids[0]) if kids else None
            except OSError:
                pass
        if child is not None:
            d = proc_rss(child)
            if d:
                anon = max(anon, d.get("RssAnon", 0) + d.get("RssShmem", 0))
                filed = max(filed, d.get("RssFile", 0))
    wall = time.perf_counter() - t
    try:
        if p.returncode != 0:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{stderr.decode(errors='replace')[-3000:]}")
        text = open(tf).read()
    finally:
        rm(tf)

    def field(name):
        return float(re.search(re.escape(name) + r":\s*([0-9.]+)", text).group(1))

    return {"wall_s": wall, "peak_rss_mib": field("Maximum resident set size (kbytes)") / 1024,
            "peak_anon_mib_sampled": anon / 1024, "peak_file_mapped_mib_sampled": filed / 1024,
            "user_s": field("User time (seconds)"), "sys_s": field("System time (seconds)"),
            "fs_out_gib": field("File system outputs") * 512 / 2**30, "fs_in_gib": field("File system inputs") * 512 / 2**30,
            "major_faults": int(field("Major (requiring I/O) page faults"))}


def make_adapter(torch, base, path):
    """RWKV-PEFT's layout: `X.lora_A` [r, in], `X.lora_B` [out, r], bf16, one torch.save'd dict."""
    if os.path.exists(path):
        return
    log(f"making adapter {path}")
    sd = torch.load(base, mmap=True, map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(SEED)
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"(blocks\.\d+\.(?:att|ffn)\.\w+)\.weight", k)
        if not m or m.group(1).split(".", 2)[2] not in TARGETS:
            continue
        o, i = v.shape
        bound = 1 / math.sqrt(i)
        out[m.group(1) + ".lora_A"] = ((torch.rand(RANK, i, generator=g) * 2 - 1) * bound).to(torch.bfloat16)
        out[m.group(1) + ".lora_B"] = (torch.randn(o, RANK, generator=g) * SIGMA_B).to(torch.bfloat16)
    tmp = path + ".part"
    torch.save(out, tmp)
    os.replace(tmp, path)


def bf16_bits_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def round_bf16_exact(v):
    """Nearest-even bf16 (as uint16 bits) of float64 values: of the two bf16 values around v, the closer."""
    lo = (v.astype(np.float32).view(np.uint32) >> 16).astype(np.uint32)  # toward zero from v's f32 rounding
    hi = lo + 1
    dlo = np.abs(v - bf16_bits_to_f32(lo.astype(np.uint16)).astype(np.float64))
    dhi = np.abs(v - bf16_bits_to_f32(hi.astype(np.uint16)).astype(np.float64))
    pick_hi = (dhi < dlo) | ((dhi == dlo) & ((lo & 1) == 1))
    return np.where(pick_hi, hi, lo).astype(np.uint16)


def ordered(u16):
    """bf16 bits as integers in value order (-0 and +0 both 0): their difference counts ulps, across zero too."""
    i = u16.astype(np.int32)
    return np.where(i & 0x8000, -(i & 0x7FFF), i)


def tensor_bytes(t):
    return np.asarray(t.data).reshape(-1).view(np.uint8)


def check(torch, base, adapter, out_b, out_d):
    """b's GGUF against d's, and both against the exactly computed, once-rounded merge."""
    import gguf
    rb = {t.name: t for t in gguf.GGUFReader(out_b).tensors}
    rd = {t.name: t for t in gguf.GGUFReader(out_d).tensors}
    assert rb.keys() == rd.keys(), "the two GGUFs hold different tensor names"
    w = torch.load(base, mmap=True, map_location="cpu", weights_only=True)
    lora = torch.load(adapter, map_location="cpu", weights_only=True)
    merged_names = {}
    for k in w:
        m = re.fullmatch(r"blocks\.(\d+)\.((?:att|ffn)\.\w+)\.weight", k)
        if m and m.group(2) in TARGETS:
            merged_names[f"blk.{m.group(1)}.{GGUF_NAME[m.group(2)]}.weight"] = k[:-len(".weight")]
    res = {"tensors": len(rb), "merged_tensors": 0, "other_tensors_identical": 0, "other_tensors_differ": [],
           "merged_elements": 0, "changed_by_merge": 0, "b_vs_d_differ": 0, "b_vs_d_max_abs": 0.0,
           "b_vs_d_max_rel": 0.0, "b_vs_d_max_ulp": 0, "b_vs_exact_differ": 0, "d_vs_exact_differ": 0,
           "b_vs_d_over_1_ulp": 0, "b_vs_exact_max_ulp": 0, "d_vs_exact_max_ulp": 0, "b_vs_exact_over_1_ulp": 0,
           "d_vs_exact_over_1_ulp": 0, "b_max_abs_err": 0.0, "d_max_abs_err": 0.0, "b_and_d_both_wrong": 0}
    for name in rb:
        tb, td = rb[name], rd[name]
        if name not in merged_names:
            same = tb.tensor_type == td.tensor_type and np.array_equal(tensor_bytes(tb), tensor_bytes(td))
            if same:
                res["other_tensors_identical"] += 1
            else:
                res["other_tensors_differ"].append(name)
            continue
        assert tb.tensor_type == td.tensor_type == gguf.GGMLQuantizationType.BF16, name
        prefix = merged_names[name]
        res["merged_tensors"] += 1
        xb = tensor_bytes(tb).view(np.uint16)
        xd = tensor_bytes(td).view(np.uint16)
        W = w[prefix + ".weight"]
        w_bits = W.contiguous().view(torch.int16).numpy().reshape(-1).view(np.uint16)
        A, B = lora[prefix + ".lora_A"], lora[prefix + ".lora_B"]
        r = A.shape[0]
        exact = (W.double() + (B.double() @ A.double()) * (ALPHA / r)).numpy().reshape(-1)
        xe = round_bf16_exact(exact)
        for side, x in (("b", xb), ("d", xd)):
            err = float(np.abs(bf16_bits_to_f32(x).astype(np.float64) - exact).max())
            res[f"{side}_max_abs_err"] = max(res[f"{side}_max_abs_err"], err)
        del exact
        res["merged_elements"] += xb.size
        res["changed_by_merge"] += int(np.count_nonzero(xb != w_bits))
        diff = xb != xd
        n = int(np.count_nonzero(diff))
        res["b_vs_d_differ"] += n
        if n:
            fb, fd = bf16_bits_to_f32(xb[diff]), bf16_bits_to_f32(xd[diff])
            ad = np.abs(fb - fd)
            res["b_vs_d_max_abs"] = max(res["b_vs_d_max_abs"], float(ad.max()))
            nz = np.maximum(np.abs(fb), np.abs(fd)) > 0
            if nz.any():
                res["b_vs_d_max_rel"] = max(res["b_vs_d_max_rel"],
                                            float((ad[nz] / np.maximum(np.abs(fb), np.abs(fd))[nz]).max()))
            ulp = np.abs(ordered(xb[diff]) - ordered(xd[diff]))
            res["b_vs_d_max_ulp"] = max(res["b_vs_d_max_ulp"], int(ulp.max()))
            res["b_vs_d_over_1_ulp"] += int(np.count_nonzero(ulp > 1))
        for side, x in (("b", xb), ("d", xd)):
            wrong = x != xe
            res[f"{side}_vs_exact_differ"] += int(np.count_nonzero(wrong))
            if wrong.any():
                ulp = np.abs(ordered(x[wrong]) - ordered(xe[wrong]))
                res[f"{side}_vs_exact_max_ulp"] = max(res[f"{side}_vs_exact_max_ulp"], int(ulp.max()))
                res[f"{side}_vs_exact_over_1_ulp"] += int(np.count_nonzero(ulp > 1))
        res["b_and_d_both_wrong"] += int(np.count_nonzero((xb != xe) & (xd != xe)))
    del rb, rd
    return res


def environment(torch, drop):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    # Which kernel oneDNN picks for merge_lora.py's bf16 `B @ A` (one small product, verbose on).
    probe = ("import torch; b=torch.randn(2048,32).bfloat16(); a=torch.randn(32,2048).bfloat16(); b@a")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       env={**os.environ, "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": "2"})
    isa = re.search(r"isa:([^\n]*)", p.stdout + p.stderr)
    impl = re.search(r"primitive,exec,cpu,matmul,([^,]*)", p.stdout + p.stderr)
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_isa": isa.group(1).strip() if isa else None,
            "bf16_matmul_impl": impl.group(1) if impl else "not oneDNN (no verbose line)",
            "cpu_flags": [f for f in flags if re.match(r"(avx|fma|amx)", f)],
            "rwkv_convert_commit": rev,
            "rwkv_convert_merge_simd": "baseline x86-64 (SSE2, 4-wide mulps/addps, no FMA): no target-cpu or "
                                       "target_feature on tuning::lora::add_product",
            "page_cache": "cold (sync; drop_caches before every command)" if drop else "warm (drop_caches not permitted)"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="small,large", help="comma-separated: small, large")
    ap.add_argument("--merge-script", default="/tmp/merge_lora.py",
                    help="RWKV-PEFT's merge/merge_lora.py (taken from the mirror when missing)")
    ap.add_argument("--no-drop-caches", action="store_true")
    ap.add_argument("--json", action="store_true", help="JSON on stdout (the tables then go to stderr)")
    args = ap.parse_args()
    import torch

    os.makedirs(DIR, exist_ok=True)
    if not os.path.exists(args.merge_script):
        src = subprocess.run(["git", "-C", PEFT_MIRROR, "show", "HEAD:merge/merge_lora.py"], capture_output=True,
                             check=True).stdout
        with open(args.merge_script, "wb") as f:
            f.write(src)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "rwkv-convert")
    drop = not args.no_drop_caches and can_drop_caches()
    env = environment(torch, drop)
    log(json.dumps(env, indent=1))
    report = {"environment": env, "rounds": args.rounds, "rank": RANK, "alpha": ALPHA, "sigma_b": SIGMA_B,
              "models": {}}
    torch_env = {**os.environ, "OMP_NUM_THREADS": "2"}
    for model in args.models.split(","):
        layers, embd = MODELS[model]
        stem = f"synth-v7-L{layers}-C{embd}-V65536-bf16"
        base = os.path.join(DIR, stem + ".pth")
        if not os.path.exists(base):
            subprocess.run([binary, "synth", base, "--layers", str(layers), "--embd", str(embd), "--vocab", "65536"],
                           check=True)
        adapter = os.path.join(DIR, f"lora-r{RANK}-s{SIGMA_B}-seed{SEED}-{stem}.pth")
        make_adapter(torch, base, adapter)
        out = {k: os.path.join(DIR, f"lora-bench-{model}-{k}") for k in ("a.gguf", "b.gguf", "merged.pth", "d.gguf")}
        commands = [
            ("a", [binary, "convert", base, "--to", "gguf", out["a.gguf"], "--outtype", "bf16", "--force"], None),
            ("b", [binary, "convert", base, "--to", "gguf", out["b.gguf"], "--outtype", "bf16", "--force",
                   "--lora", adapter, "--lora-alpha", str(ALPHA)], None),
            ("c", [sys.executable, args.merge_script, str(ALPHA), base, adapter, out["merged.pth"]], torch_env),
            ("d", [binary, "convert", out["merged.pth"], "--to", "gguf", out["d.gguf"], "--outtype", "bf16",
                   "--force"], None),
            # For reading c: what importing torch alone costs (a cold import from the same venv).
            ("i", [sys.executable, "-c", "import torch"], torch_env),
        ]
        need = 2.2 * os.path.getsize(base)  # peak on disk: merged.pth + d's GGUF (b: its GGUF + scratch)
        free = shutil.disk_usage(DIR).free
        if free < need:
            raise SystemExit(f"{DIR}: {free / 2**30:.1f} GiB free, the {model} rounds need {need / 2**30:.1f} GiB")
        rounds = []
        try:
            for i in range(args.rounds):
                rm(*out.values())
                rnd, prev = {}, None
                for name, cmd, e in commands:
                    flush = settle(drop)
                    if prev:
                        rnd[prev]["flush_s"] = flush
                    log(f"[{model} round {i + 1}/{args.rounds}] {name}: {' '.join(cmd)}")
                    rnd[name] = measure(cmd, e)
                    m = rnd[name]
                    log(f"    {m['wall_s']:.2f} s, peak RSS {m['peak_rss_mib']:.0f} MiB (anon "
                        f"{m['peak_anon_mib_sampled']:.0f}, mapped file {m['peak_file_mapped_mib_sampled']:.0f})")
                    prev = name
                    # Nothing kept on disk longer than needed: the peak is merged.pth + d's GGUF.
                    if name in ("a", "b"):
                        rm(out[f"{name}.gguf"])
                    if name == "d":
                        rm(out["merged.pth"], out["d.gguf"])
                rnd[prev]["flush_s"] = settle(False)
                rounds.append(rnd)
        finally:
            rm(*out.values())
        # The check, untimed, reruns b, c and d with their outputs in RAM (/dev/shm) when it has room,
        # so that the disk need not hold b's and d's GGUFs and merged.pth at once.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 3.5 * os.path.getsize(base) else DIR
        chk_out = {k: os.path.join(shm, f"lora-bench-check-{model}-{k}") for k in ("b.gguf", "merged.pth", "d.gguf")}
        log(f"[{model}] check: b, c and d again (outputs in {shm}), then b's GGUF against d's and the exact merge")
        try:
            run = lambda cmd, e=None: subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                     env=e, check=True)
            run(commands[2][1][:-1] + [chk_out["merged.pth"]], torch_env)
            run(commands[3][1][:2] + [chk_out["merged.pth"], "--to", "gguf", chk_out["d.gguf"], "--outtype", "bf16",
                                      "--force"])
            rm(chk_out["merged.pth"])
            run(commands[1][1][:5] + [chk_out["b.gguf"]] + commands[1][1][6:])
            t = time.perf_counter()
            chk = check(torch, base, adapter, chk_out["b.gguf"], chk_out["d.gguf"])
            chk["check_s"] = time.perf_counter() - t
            chk["outputs_in"] = shm
        finally:
            rm(*chk_out.values())
        med = {n: {k: statistics.median(r[n][k] for r in rounds) for k in rounds[0][n]} for n, _, _ in commands}
        rng = {n: (min(r[n]["wall_s"] for r in rounds), max(r[n]["wall_s"] for r in rounds)) for n, _, _ in commands}
        merge_cost = med["b"]["wall_s"] - med["a"]["wall_s"]
        derived = {
            "merge_cost_s": merge_cost,
            "merge_cost_s_median_of_rounds": statistics.median(r["b"]["wall_s"] - r["a"]["wall_s"] for r in rounds),
            "two_step_over_one_step": (med["c"]["wall_s"] + med["d"]["wall_s"]) / med["b"]["wall_s"],
            "torch_merge_over_merge_cost": med["c"]["wall_s"] / merge_cost if merge_cost > 0 else None,
            "two_step_over_one_step_with_flush": (med["c"]["wall_s"] + med["c"]["flush_s"] + med["d"]["wall_s"])
                                                 / med["b"]["wall_s"],
        }
        report["models"][model] = {"base": base, "base_gib": os.path.getsize(base) / 2**30, "adapter": adapter,
                                   "adapter_mib": os.path.getsize(adapter) / 2**20, "rounds": rounds,
                                   "median": med, "wall_range": rng, "derived": derived, "check": chk}
    print_tables(report, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=1))


def print_tables(report, f):
    env = report["environment"]
    labels = {"a": "a  convert → gguf bf16", "b": "b  convert --lora (merge + convert)",
              "c": "c  merge_lora.py (torch, 2 thr)", "d": "d  convert merged.pth → gguf",
              "i": "(c's share) python -c 'import torch'"}
    p = lambda *a: print(*a, file=f)
    p(f"\nCPU: {env['cpu']}, {env['cores']} cores; torch {env['torch']} capability {env['torch_cpu_capability']}, "
      f"bf16 matmul {env['bf16_matmul_impl']}; rwkv-convert {env['rwkv_convert_commit']} merge loop "
      f"{env['rwkv_convert_merge_simd'].split(':')[0]}; page cache {env['page_cache']}; "
      f"{report['rounds']} rounds, medians (min–max)\n")
    for model, m in report["models"].items():
        p(f"### {model}: {os.path.basename(m['base'])} ({m['base_gib']:.2f} GiB), adapter r={report['rank']} "
          f"α={report['alpha']} ({m['adapter_mib']:.1f} MiB)\n")
        p("| step | wall s | peak RSS MiB | of which anon / mapped file MiB | user+sys CPU s | flush after (sync) s | written GiB |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for n, lab in labels.items():
            md, (lo, hi) = m["median"][n], m["wall_range"][n]
            p(f"| {lab} | {md['wall_s']:.2f} ({lo:.2f}–{hi:.2f}) | {md['peak_rss_mib']:.0f} | "
              f"{md['peak_anon_mib_sampled']:.0f} / {md['peak_file_mapped_mib_sampled']:.0f} | "
              f"{md['user_s'] + md['sys_s']:.1f} | {md['flush_s']:.2f} | {md['fs_out_gib']:.2f} |")
        d = m["derived"]
        ratio = d["torch_merge_over_merge_cost"]
        p(f"\nmerge cost b − a = {d['merge_cost_s']:.2f} s (median of per-round differences "
          f"{d['merge_cost_s_median_of_rounds']:.2f} s); (c + d) / b = {d['two_step_over_one_step']:.2f} "
          f"({d['two_step_over_one_step_with_flush']:.2f} counting c's flush); "
          f"c / (b − a) = {ratio:.1f}" if ratio else "c / (b − a) = n/a")
        c = m["check"]
        p(f"\ncheck ({c['check_s']:.0f} s): {c['merged_tensors']} merged matrices, {c['merged_elements']:,} bf16 elements, "
          f"{c['changed_by_merge'] / c['merged_elements']:.1%} changed from the base by the merge; other "
          f"{c['tensors'] - c['merged_tensors']} tensors: {c['other_tensors_identical']} byte-identical b vs d"
          + (f", differ: {c['other_tensors_differ'][:5]}" if c["other_tensors_differ"] else ""))
        p(f"  b vs d: {c['b_vs_d_differ']:,} elements differ ({c['b_vs_d_differ'] / c['merged_elements']:.3%}), "
          f"max |Δ| {c['b_vs_d_max_abs']:.3g} (max rel {c['b_vs_d_max_rel']:.3g}); bf16 ulps apart: max "
          f"{c['b_vs_d_max_ulp']}, {c['b_vs_d_over_1_ulp']:,} more than 1")
        p(f"  vs the exact merge rounded once (correct bf16): b (rwkv-convert) {c['b_vs_exact_differ']:,} off "
          f"(max {c['b_vs_exact_max_ulp']} ulp, {c['b_vs_exact_over_1_ulp']:,} > 1 ulp); d (merge_lora.py) "
          f"{c['d_vs_exact_differ']:,} off (max {c['d_vs_exact_max_ulp']} ulp, {c['d_vs_exact_over_1_ulp']:,} > 1 ulp); "
          f"both off on {c['b_and_d_both_wrong']:,}")
        p(f"  max |error| against the exact (unrounded) merge: b {c['b_max_abs_err']:.3g}, d {c['d_max_abs_err']:.3g}\n")


if __name__ == "__main__":
    main()
