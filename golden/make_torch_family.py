#!/usr/bin/env python3
"""A family of files written by torch.save itself, for the reader's tests (golden/torch-family/).

    pip install -r golden/requirements.txt && python golden/make_torch_family.py [--big DIR]

Why: torch's zip writer (miniz, MZ_ZIP_FLAG_WRITE_ZIP64) always ends the archive with zip64 end
records, switches the EOCD's counts to 0xFFFF at 65535 entries, and names every entry under the
file's stem. rwkv-convert 0.1.0 refused a real torch 2.15 file whose first directory record
happened to be 76 bytes long (a 21-character stem), because the `zip` crate mistook where the
directory starts. So this script sweeps what torch varies:

- the stem length (1..48 characters, ASCII, plus a non-ASCII stem and a file object, which torch
  names `archive`),
- the entry count around the points where the records change: 0, 1, 63, 64, 65 storages, and
  and 65535 and 65536 entries in all (where the EOCD's 16-bit counts saturate),
- storage sizes and alignment: empty storages, 1..130 bytes, views at offsets, shared storages,
  every float dtype, the storage alignment torch's config allows (64 default, 4096),
- CRC-32s switched off (`set_crc32_options(False)`),
- pickle protocols 2 and 4,
- the legacy (pre-zip) container for the same state dicts.

`family.json` lists, per file, its container, and either every tensor (name, dtype, shape, sha256 of
the C-contiguous little-endian bytes) or, for the many-entry files, the rule that made them
(tensor `tN` is the float32 scalar N, one storage each) so that the manifest stays small; those
two are committed gzip-compressed (`gzip` names the file, `sha256` is that of the file torch wrote).

`--big DIR` also writes, outside the repository, a file past 4 GiB (one 4.1 GB storage after a small
one, so offsets and sizes need zip64 extra fields); the Rust test reads it when the environment
variable RWKV_TORCH_FAMILY_BIG names that folder.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "torch-family")


def sha(t):
    return hashlib.sha256(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def describe(sd):
    return [{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "sha256": sha(v)}
            for k, v in sd.items()]


def small_sd(seed):
    g = torch.Generator().manual_seed(seed)
    return {"emb.weight": torch.randn(3, 5, generator=g), "blocks.0.ln1.weight": torch.randn(5, generator=g)}


def scalars(n):
    # One storage per tensor: the archive holds n data records plus 6 fixed entries.
    return {f"t{i}": torch.tensor(float(i), dtype=torch.float32) for i in range(n)}


def save(sd, path, manifest, rule=None, **kw):
    torch.save(sd, path, **kw)
    name = os.path.relpath(path, OUT)
    legacy = kw.get("_use_new_zipfile_serialization") is False
    entry = {"container": "legacy" if legacy else "zip", "bytes": os.path.getsize(path)}
    if rule is not None:
        entry["rule"] = rule
    else:
        entry["tensors"] = describe(sd)
    manifest[name] = entry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", help="also write a >4 GiB file into this folder (not committed)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = {}

    # Stem length: torch names every entry "<stem>/...", so the directory's record sizes move with it.
    for n in range(1, 49):
        save(small_sd(n), os.path.join(OUT, "s" * n + ".pth"), manifest)
    save(small_sd(100), os.path.join(OUT, "modèle-ü.pth"), manifest)
    with open(os.path.join(OUT, "file-object.pth"), "wb") as f:
        torch.save(small_sd(101), f)
    manifest["file-object.pth"] = {"container": "zip", "bytes": os.path.getsize(os.path.join(OUT, "file-object.pth")),
                                   "tensors": describe(small_sd(101))}

    # Entry counts: 0, 1, 63..65 storages (small), and 65535, 65536 entries in all.
    for n in [0, 1, 63, 64, 65]:
        save(scalars(n), os.path.join(OUT, f"count-{n}.pth"), manifest)
        save(scalars(n), os.path.join(OUT, f"count-{n}-legacy.pth"), manifest, _use_new_zipfile_serialization=False)
    for entries in [65535, 65536]:
        n = entries - 6
        name = f"entries-{entries}.pth"
        save(scalars(n), os.path.join(OUT, name), manifest, rule={"scalars": n})
        # 18 MB each, mostly alignment padding: committed gzip-compressed (2.5 MB), with the sha256
        # of the file torch wrote; the test decompresses it.
        raw = open(os.path.join(OUT, name), "rb").read()
        manifest[name].update(sha256=hashlib.sha256(raw).hexdigest(), gzip=name + ".gz")
        with open(os.path.join(OUT, name + ".gz"), "wb") as f:
            f.write(gzip.compress(raw, compresslevel=9, mtime=0))
        os.remove(os.path.join(OUT, name))

    # Sizes, offsets, sharing, dtypes.
    g = torch.Generator().manual_seed(5)
    base = torch.randn(130, generator=g)
    sizes = {}
    for k in [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 130]:
        sizes[f"f32_{k}"] = base[:k].clone()
        sizes[f"u8_{k}"] = (base[:k] * 50).to(torch.uint8)
        sizes[f"bf16_{k}"] = base[:k].to(torch.bfloat16)
        sizes[f"f16_{k}"] = base[:k].to(torch.float16)
    big = torch.randn(16, 9, generator=g)
    sizes["shared"] = big
    sizes["shared_rows"] = big[3:7]
    sizes["shared_col"] = big[:, 4]
    sizes["shared_t"] = big.t()
    sizes["f64"] = big.to(torch.float64)
    sizes["i32"] = torch.arange(-7, 9, dtype=torch.int32)
    sizes["i16"] = torch.arange(-7, 9, dtype=torch.int16)
    sizes["bool"] = torch.tensor([True, False, False, True, True])
    save(sizes, os.path.join(OUT, "sizes.pth"), manifest)
    save(sizes, os.path.join(OUT, "sizes-legacy.pth"), manifest, _use_new_zipfile_serialization=False)
    save(sizes, os.path.join(OUT, "sizes-protocol4.pth"), manifest, pickle_protocol=4)
    save(sizes, os.path.join(OUT, "sizes-legacy-protocol4.pth"), manifest, pickle_protocol=4,
         _use_new_zipfile_serialization=False)

    # Storage alignment (torch.utils.serialization.config.save.storage_alignment).
    import torch.utils.serialization.config as serialization_config
    cfg = serialization_config.save
    old = cfg.storage_alignment
    try:
        cfg.storage_alignment = 4096
        save(sizes, os.path.join(OUT, "align-4096.pth"), manifest)
    finally:
        cfg.storage_alignment = old

    # CRC-32s off: torch writes 0 in every record.
    torch.serialization.set_crc32_options(False)
    try:
        save(sizes, os.path.join(OUT, "no-crc.pth"), manifest)
    finally:
        torch.serialization.set_crc32_options(True)

    versions = {"python": sys.version.split()[0], "torch": torch.__version__}
    with open(os.path.join(OUT, "family.json"), "w") as f:
        json.dump({"versions": versions, "files": manifest}, f, indent=0, sort_keys=True)
    print(f"{len(manifest)} files in {OUT}")

    if args.big:
        os.makedirs(args.big, exist_ok=True)
        n = (4 << 30) // 4 + 1000  # just past 4 GiB of float32
        sd = {"small": torch.arange(10, dtype=torch.float32), "huge": torch.zeros(n, dtype=torch.float32)}
        sd["huge"][::1 << 20] = 1.0
        path = os.path.join(args.big, "over-4gib.pth")
        torch.save(sd, path)
        with open(os.path.join(args.big, "over-4gib.json"), "w") as f:
            json.dump({"huge_len": n, "ones_every": 1 << 20, "bytes": os.path.getsize(path)}, f)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
