#!/usr/bin/env python3
"""Regenerate golden/hf/: what the official HF-side converters write for the tiny golden checkpoints, and
what the real HF-side consumers compute on the result. See README.md in this folder.

Nothing here converts or computes by itself: every output folder is written by the converter named in its
record (transformers' RWKV-4 script, the RWKV org's (BBuf) RWKV-5/6 scripts, fla's RWKV-7 script, rwkv7-hf's
converter), and every logit comes from the consumer named (transformers RwkvForCausalLM, the RWKV org's
Rwkv5/Rwkv6ForCausalLM remote code, rwkv7-hf). This script only runs them, records hashes, and compares.

Two Python environments are needed (their transformers versions conflict):
  main: requirements.txt                  (transformers 5.23.0, flash-linear-attention 0.6.0, rwkv7-hf 0.9.0)
  t4:   requirements-transformers4.txt    (transformers 4.46.3: the last release whose converter works and
                                           whose API the 2024 RWKV-5/6 scripts import)
Run this file with the main environment's python; it starts the t4 steps with --t4-python.
`--setup DIR` creates both venvs (with --system-site-packages, on top of golden/requirements.txt).

Third-party sources that are not on PyPI are read from git clones (bare or not) at pinned commits and
checked by sha256; they are never copied into this repository:
  --fla-git     fla-org/flash-linear-attention   (utils/convert_from_rwkv7.py)
  --bbuf-git    BBuf/RWKV-World-HF-Tokenizer     (RWKV-5/6 converters, modeling code, World tokenizer dir)
  --rwkvlm-git  BlinkDL/RWKV-LM                  (RWKV-v4/20B_tokenizer.json, RWKV-v7/rwkv_vocab_v20230424.txt)

A second run writes the same bytes.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent  # golden/hf
GOLDEN = HERE.parent  # golden

SIZE_KEY = "golden-tiny"  # the entry added to the converters' hard-coded size tables (2 layers x 128)
N_LAYER, N_EMBD, VOCAB = 2, 128, 512

SOURCES = {
    "fla": dict(
        repo="fla-org/flash-linear-attention",
        commit="bc3b101dcb713ddc5bd8924b66754eb68b5ccf89",
        files={"utils/convert_from_rwkv7.py": "29f70628d9a3559b62c6c7e5cac5c6e0c6d01319bd8fd412a0fe8ebc7e066eff"},
    ),
    "bbuf": dict(
        repo="BBuf/RWKV-World-HF-Tokenizer",
        commit="699270b345f2fae060a7aee1a31be4f6b2fecd36",
        files={
            "scripts/convert_rwkv5_checkpoint_to_hf.py": "9eb232ee0f06436de21c7f0a5b9b45c9ac9da9b117ac59fa735911832c96713c",
            "scripts/convert_rwkv6_checkpoint_to_hf.py": "5f3c2c6a0b8dca8cf4eea0c638e724931a97aaa89d229796f5467f7a340e0b32",
            "scripts/configuration_rwkv5.py": "ea8aaaa34d7292a4139d513eb62bac33d90474b8a4b6dc8bb9b68bb0217e4bbf",
            "scripts/configuration_rwkv6.py": "9637c3d9a7d286737676f6dbede5c2fc3ad7843044763294f1c44d8263438849",
            "scripts/convert_rwkv5_world_model_to_hf.sh": "a0f29fd458fc4064a8fd3810be99728d09a53d22ddec0c6f6ee53b71e5239115",
            "scripts/convert_rwkv6_world_model_to_hf.sh": "76ad142207c6eb7c1546cb8c3779f624204a8368e018e87698ef00c9fe0a5fc7",
            "rwkv5_world_tokenizer/vocab.txt": "466a2e6c8d14f7519c7ea317a382d3248edc2c325add1565838442dcc124bdb2",
            "rwkv5_world_tokenizer/tokenization_rwkv5.py": "259cd73104cd00e6ad283643b79f3bfd9989a0b5f49da9307179f1664052d9a4",
            "rwkv5_world_tokenizer/tokenizer_config.json": "2ec41962ed906d493ebd88a27e3465e23a50c9048dd6ec20dbd7bed85a6b0119",
            "rwkv5_world_tokenizer/config.json": "8eb95bcbc154530931e15fc418c8b1fe991095671409552099ea1aa596999ede",
            "rwkv5_model/configuration_rwkv5.py": "01e476234e47123405d1b30b2ea1f113a065f46d29c2ee3b13e43f3cc5eefdd6",
            "rwkv5_model/modeling_rwkv5.py": "dec3ff613a359ecc557c21b1194ab897b2c98dd0f21178f90071f72c3d3b52ef",
            "rwkv5_model/generation_config.json": "e0393848e3775830db3d6cc901c1657857e2407611ba2863d321654c76e34041",
            "rwkv5_model/config.json": "5997629920b8acd9fc4c4819b3a0969a012385db9017afe719bae765806e4d81",
            "rwkv5_model/special_tokens_map.json": "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356",
            "rwkv6_model/configuration_rwkv6.py": "28993fb8b33019c199e8b761552d1be79a8a8004c9601420e4fc71afa89db13b",
            "rwkv6_model/modeling_rwkv6.py": "16b00e9483501029d142e1238551fb68912019ae54daa1d18766f808f20268af",
            "rwkv6_model/generation_config.json": "e0393848e3775830db3d6cc901c1657857e2407611ba2863d321654c76e34041",
            "rwkv6_model/config.json": "b0c4046fcd285e0214bc05c12cfca1a4d62bb4e5e1ee537970d0ed2bffa3d016",
            "rwkv6_model/special_tokens_map.json": "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356",
        },
    ),
    "rwkvlm": dict(
        repo="BlinkDL/RWKV-LM",
        commit="524481d5099b38d9bc8ef1e89209161b86c8011b",
        files={
            "RWKV-v4/20B_tokenizer.json": "56ac4821e129d2c520fdaba60abd920fa852ada51b45c0dd52bbb6bd8c985ade",
            "RWKV-v7/rwkv_vocab_v20230424.txt": "e6dee3d4e31b4d5c40ac99508ac6c701ceef4bed681bf2167ce9a908552bca89",
        },
    ),
}
# transformers 4.47.x ships a rewritten (broken) converter; it is run once to document what it writes.
T4471 = dict(
    wheel="transformers-4.47.1-py3-none-any.whl",
    wheel_sha256="d2f5d19bb6283cd66c893ec7e6d931d6370bbf1cc93633326ff1f41a40046c9c",
    member="transformers/models/rwkv/convert_rwkv_checkpoint_to_hf.py",
    member_sha256="f8483df10dd3ae9155f12bd24dd2a863364260ec066b5c62115bce924c7629ea",
)
T4463_CONVERTER_SHA256 = "57a979324621422b2fedb0382d46fdeba28319202ae3c764d9528189efe2483b"

SMALL_JSON_LIMIT = 65536  # .json files up to this size are recorded verbatim (text)


# ---------------------------------------------------------------------------------------------------
# helpers usable in every environment
# ---------------------------------------------------------------------------------------------------


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    return sha256_bytes(Path(p).read_bytes())


def tokens():
    return json.loads((GOLDEN / "manifest.json").read_text())["tokens"]


def sanitize(s, work):
    """Error text without machine-specific paths, so that two runs record the same bytes."""
    s = str(s)
    for p, tag in ((str(work), "<work>"), (str(GOLDEN), "<golden>"), (sys.prefix, "<venv>"),
                   (sys.base_prefix, "<python>"), (str(Path.home()), "<home>")):
        s = s.replace(p, tag)
    return s


def last_error_line(text, work):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return sanitize(ln.strip(), work)
    return sanitize(lines[-1].strip(), work) if lines else ""


def folder_listing(d):
    """Every file of an output folder: name, size, sha256; small JSON files verbatim."""
    out = []
    for p in sorted(Path(d).iterdir()):
        if p.is_dir():
            continue
        b = p.read_bytes()
        row = dict(name=p.name, size=len(b), sha256=sha256_bytes(b))
        if p.suffix == ".json" and len(b) <= SMALL_JSON_LIMIT:
            row["text"] = b.decode("utf-8")
        out.append(row)
    return out


def st_table(path):
    """A safetensors file as written: header facts and tensors in data (file) order, with the sha256 of
    each tensor's raw little-endian bytes."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    htext = raw[8:8 + n]
    hdr = json.loads(htext)
    top = []  # the header's own top-level key order
    json.loads(htext, object_pairs_hook=lambda kv: top.append([k for k, _ in kv]) or dict(kv))
    top = top[-1]  # the outermost object is completed last
    meta = hdr.pop("__metadata__", None)
    key_order = [k for k in top if k != "__metadata__"]
    items = sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0])
    base = 8 + n
    tensors = []
    for name, v in items:
        b, e = v["data_offsets"]
        tensors.append(dict(name=name, dtype=v["dtype"], shape=v["shape"], data_offsets=[b, e],
                            sha256=sha256_bytes(raw[base + b:base + e])))
    return dict(
        file_size=len(raw), file_sha256=sha256_bytes(raw), header_len=n, header_sha256=sha256_bytes(htext),
        header_padding=len(htext) - len(htext.rstrip(b" ")),
        metadata=meta,
        header_first_key_is_metadata=bool(top) and top[0] == "__metadata__",
        header_key_order_equals_data_order=key_order == [t["name"] for t in tensors],
        tensors=tensors,
    )


# ---------------------------------------------------------------------------------------------------
# helpers for the child steps (torch available)
# ---------------------------------------------------------------------------------------------------


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def dtname(dt):
    torch = _torch()
    return {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64",
            torch.int64: "I64"}[dt]


def tbytes(t):
    t = t.detach().cpu().contiguous()
    if t.dim() == 0:
        t = t.reshape(1)
    return t.view(_torch().uint8).numpy().tobytes()


def bin_table(path):
    """A torch.save'd pytorch_model*.bin: tensors in the pickled (state-dict) order, zip members in order."""
    torch = _torch()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    with zipfile.ZipFile(path) as z:
        members = z.namelist()
    tensors = [dict(name=k, dtype=dtname(v.dtype), shape=list(v.shape), sha256=sha256_bytes(tbytes(v)))
               for k, v in sd.items()]
    return dict(container="torch zip (torch.save)", file_size=Path(path).stat().st_size,
                file_sha256=sha256_file(path), zip_members=members, tensors=tensors), sd


def load_pth(name):
    return _torch().load(GOLDEN / (name + ".pth"), map_location="cpu", weights_only=True)


def load_st(path):
    from safetensors.torch import load_file
    return load_file(str(path))


def match_sources(src, out):
    """For every output tensor, which source (.pth) tensor holds the same values, and how it was moved:
    'none' (same shape), 'reshape A->B' (a squeeze/unsqueeze), 'transpose' (2-D). Values are compared after a
    cast to the output dtype (exact here: every golden value is a bf16 number)."""
    torch = _torch()
    rows = []
    used = set()
    for on, o in out.items():
        found = []
        for sn, s in src.items():
            if s.numel() != o.numel():
                continue
            sc = s.to(o.dtype)
            if list(sc.shape) == list(o.shape) and torch.equal(sc, o):
                found.append(dict(source=sn, transform="none"))
            elif torch.equal(sc.reshape(o.shape), o):
                found.append(dict(source=sn, transform="reshape %s->%s" % (list(s.shape), list(o.shape))))
            elif s.dim() == 2 and list(sc.t().shape) == list(o.shape) and torch.equal(sc.t().contiguous(), o):
                found.append(dict(source=sn, transform="transpose %s->%s" % (list(s.shape), list(o.shape))))
        row = dict(name=on)
        if len(found) == 1:
            row.update(found[0])
            row["cast"] = "%s->%s" % (dtname(src[found[0]["source"]].dtype), dtname(o.dtype))
            used.add(found[0]["source"])
        else:
            row["matches"] = found
        rows.append(row)
    return dict(per_tensor=rows, source_tensors_not_in_output=[n for n in src if n not in used])


def maxdiff(a, b):
    return float((a.float() - b.float()).abs().max())


def official(name):
    return load_st(GOLDEN / (name + ".official.safetensors"))


def save_logits(path, logits, meta):
    from safetensors.torch import save_file
    # a single metadata key: safetensors keeps metadata in a hash map, several keys come out in random order
    save_file({"logits": logits.detach().float().contiguous()}, str(path),
              metadata={"golden": json.dumps(meta, sort_keys=True)})
    os.chmod(path, 0o644)


def write_result(work, step, res):
    (work / "results").mkdir(exist_ok=True)
    (work / "results" / (step + ".json")).write_text(json.dumps(res, indent=1))


def pkgv(name):
    from importlib.metadata import version
    return version(name)


# ---------------------------------------------------------------------------------------------------
# step t4_v4: transformers 4.46.3 convert_rwkv_checkpoint_to_hf.py (+ push_to_hub emulation, consumer)
# ---------------------------------------------------------------------------------------------------


def step_t4_v4(work):
    torch = _torch()
    import transformers
    from transformers import AutoModelForCausalLM, RwkvForCausalLM
    import transformers.models.rwkv.convert_rwkv_checkpoint_to_hf as conv
    import importlib.util

    assert transformers.__version__ == "4.46.3", transformers.__version__
    conv_sha = sha256_file(conv.__file__)
    assert conv_sha == T4463_CONVERTER_SHA256, conv_sha
    tok_file = work / "src/rwkvlm/RWKV-v4/20B_tokenizer.json"
    res = dict(transformers=transformers.__version__, torch=torch.__version__,
               huggingface_hub=pkgv("huggingface_hub"), tokenizers=pkgv("tokenizers"),
               converter_file="transformers/models/rwkv/convert_rwkv_checkpoint_to_hf.py (transformers 4.46.3 wheel)",
               converter_sha256=conv_sha, files={})
    downloads = []

    def local_download(repo_id, filename, **kw):  # replaces huggingface_hub.hf_hub_download
        downloads.append(dict(repo_id=repo_id, filename=filename))
        return str(GOLDEN / filename)

    def patch(mod):
        mod.hf_hub_download = local_download
        mod.NUM_HIDDEN_LAYERS_MAPPING[SIZE_KEY] = N_LAYER
        mod.HIDEN_SIZE_MAPPING[SIZE_KEY] = N_EMBD

    patch(conv)
    toks = tokens()
    # relative output paths: from_pretrained records the directory it was given as _name_or_path in the
    # pushed config.json, and an absolute scratch path would make two runs differ
    os.chdir(work)
    for name in ("v4-bf16", "v4-fp16"):
        r = {}
        out = Path(name) / "convert"
        conv.convert_rmkv_checkpoint_to_hf_format(
            repo_id="golden-local", checkpoint_file=name + ".pth", output_dir=str(out), size=SIZE_KEY,
            tokenizer_file=str(tok_file), push_to_hub=False, model_name=None)
        r["invocation"] = dict(
            function="convert_rmkv_checkpoint_to_hf_format",
            repo_id="golden-local", checkpoint_file=name + ".pth", size=SIZE_KEY,
            tokenizer_file="20B_tokenizer.json (BlinkDL/RWKV-LM RWKV-v4/20B_tokenizer.json)",
            push_to_hub=False)
        r["hf_hub_download_calls"] = list(downloads)
        downloads.clear()
        r["files"] = folder_listing(out)
        bins = sorted(p.name for p in out.iterdir() if p.name.startswith("pytorch_model"))
        r["shards"] = bins
        r["index_json"] = (out / "pytorch_model.bin.index.json").read_text() if (out / "pytorch_model.bin.index.json").exists() else None
        table, sd = bin_table(out / "pytorch_model.bin")
        r["pytorch_model.bin"] = table
        r["mapping"] = match_sources(load_pth(name), sd)
        cfg_written = json.loads((out / "config.json").read_text())

        # push_to_hub path of the same script: AutoModelForCausalLM.from_pretrained(output_dir) then
        # model.push_to_hub(model_name, max_shard_size="2GB"), which saves with save_pretrained into a work
        # dir before uploading. Emulated by that save_pretrained call. vocab_size must be overridden: the
        # written config takes it from the tokenizer (50277), the checkpoint has 512 rows.
        push = Path(name) / "push"
        model = AutoModelForCausalLM.from_pretrained(str(out), vocab_size=VOCAB)
        model.save_pretrained(str(push), max_shard_size="2GB", safe_serialization=True)
        r["push_emulation"] = dict(
            calls=["AutoModelForCausalLM.from_pretrained('%s', vocab_size=512)  # relative path, cwd = scratch dir" % out.as_posix(),
                   "model.save_pretrained(dir, max_shard_size='2GB', safe_serialization=True)  # = push_to_hub's save step"],
            loaded_dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
            files=folder_listing(push),
            safetensors=st_table(push / "model.safetensors"),
            mapping=match_sources(load_pth(name), load_st(push / "model.safetensors")),
        )
        del model

        # consumer (transformers 4.46.3): the converter's folder, float32, rescale_every 0 and as written
        ref = official(name)
        cons = {}
        for tag, overrides in (("rescale0", dict(rescale_every=0)), ("as_written_rescale", {})):
            m, info = RwkvForCausalLM.from_pretrained(str(out), vocab_size=VOCAB, torch_dtype=torch.float32,
                                                      output_loading_info=True, **overrides)
            m.eval()
            with torch.no_grad():
                lg = m(torch.tensor([toks])).logits[0]
            cons[tag] = dict(overrides=dict(vocab_size=VOCAB, **overrides),
                             rescale_every=m.config.rescale_every,
                             loading_info={k: sorted(map(str, v)) for k, v in info.items()},
                             max_abs_diff_vs_official_logits_seq=maxdiff(lg, ref["logits_seq"]))
            if tag == "rescale0":
                save_logits(work / "results" / (name + ".t4.logits.safetensors"), lg,
                            dict(consumer="transformers RwkvForCausalLM", transformers=transformers.__version__))
        r["consumer_t4"] = cons
        r["config_written"] = cfg_written
        res["files"][name] = r

    # the broken 4.47.x rewrite of the same script, on v4-bf16.pth
    p = work / "src/t4471/convert_rwkv_checkpoint_to_hf.py"
    spec = importlib.util.spec_from_file_location("conv4471", p)
    c2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(c2)
    patch(c2)
    out = Path("v4-bf16") / "convert-4.47.1"
    c2.convert_rmkv_checkpoint_to_hf_format(
        repo_id="golden-local", checkpoint_file="v4-bf16.pth", output_dir=str(out), size=SIZE_KEY,
        tokenizer_file=str(tok_file), push_to_hub=False, model_name=None)
    files = []
    for f in sorted(out.iterdir()):
        row = dict(name=f.name, size=f.stat().st_size)
        if not f.name.endswith(".json"):
            obj = torch.load(f, map_location="cpu", weights_only=True)
            row["content"] = ("tensor %s %s" % (dtname(obj.dtype), list(obj.shape))) if torch.is_tensor(obj) \
                else type(obj).__name__
            if torch.is_tensor(obj):
                row["sha256_values"] = sha256_bytes(tbytes(obj))
        files.append(row)
    res["converter_4_47_1"] = dict(file=T4471["member"] + " (transformers 4.47.1 wheel)",
                                   sha256=T4471["member_sha256"], run_on="v4-bf16.pth", files_written=files)
    write_result(work, "t4_v4", res)


# ---------------------------------------------------------------------------------------------------
# step t4_v56: BBuf RWKV-5/6 converters (+ the shell scripts' copies) and the RWKV org remote code
# ---------------------------------------------------------------------------------------------------


def step_t4_v56(work):
    torch = _torch()
    import importlib
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    bb = work / "src/bbuf"
    sys.path.insert(0, str(bb / "scripts"))
    res = dict(transformers=transformers.__version__, torch=torch.__version__, files={})
    # the real flash-rwkv cannot be imported without a CUDA toolchain (it JIT-compiles its kernel at import)
    p = subprocess.run([sys.executable, "-c", "import flash_rwkv"], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    res["real_flash_rwkv_import"] = dict(flash_rwkv=pkgv("flash-rwkv"), returncode=p.returncode,
                                         error=last_error_line(p.stderr, work) if p.returncode else None)
    toks = tokens()
    for ver, name in (("5", "v5.2-bf16"), ("6", "v6-bf16")):
        r = {}
        conv = importlib.import_module("convert_rwkv%s_checkpoint_to_hf" % ver)
        conv.NUM_HIDDEN_LAYERS_MAPPING[SIZE_KEY] = N_LAYER
        conv.HIDEN_SIZE_MAPPING[SIZE_KEY] = N_EMBD
        out = work / name / "convert"
        conv.convert_rwkv_checkpoint_to_hf_format(
            output_dir=str(out), local_model_file=str(GOLDEN / (name + ".pth")), size=SIZE_KEY,
            tokenizer_file=str(bb / "rwkv5_world_tokenizer"), is_world_tokenizer=True)
        r["invocation"] = dict(
            script="scripts/convert_rwkv%s_checkpoint_to_hf.py" % ver, function="convert_rwkv_checkpoint_to_hf_format",
            local_model_file=name + ".pth", size=SIZE_KEY, tokenizer_file="rwkv5_world_tokenizer (directory)",
            is_world_tokenizer=True, push_to_hub=False)
        r["files_converter"] = folder_listing(out)
        table, sd = bin_table(out / "pytorch_model.bin")
        r["pytorch_model.bin"] = table
        r["mapping"] = match_sources(load_pth(name), sd)
        # then scripts/convert_rwkv{5,6}_world_model_to_hf.sh copies these files into the output folder
        copies = ["rwkv5_world_tokenizer/vocab.txt", "rwkv5_world_tokenizer/tokenization_rwkv5.py",
                  "rwkv5_world_tokenizer/tokenizer_config.json", "rwkv%s_model/configuration_rwkv%s.py" % (ver, ver),
                  "rwkv%s_model/modeling_rwkv%s.py" % (ver, ver), "rwkv%s_model/generation_config.json" % ver]
        before = {f["name"]: f["sha256"] for f in r["files_converter"]}
        for c in copies:
            shutil.copyfile(bb / c, out / Path(c).name)
        r["shell_script_copies"] = copies
        r["shell_script_overwrote"] = sorted(Path(c).name for c in copies if Path(c).name in before
                                             and before[Path(c).name] != sha256_file(out / Path(c).name))
        r["files_after_shell_script"] = folder_listing(out)

        # push_to_hub path / plain AutoModel loading: the bare config.json has no auto_map
        try:
            AutoModelForCausalLM.from_pretrained(str(out), trust_remote_code=True)
            r["automodel_load_of_converter_folder"] = "ok"
        except Exception as e:  # noqa: BLE001 - recorded
            r["automodel_load_of_converter_folder"] = sanitize("%s: %s" % (type(e).__name__, str(e).splitlines()[0]), work)

        # consumer: the remote code copied into the folder, loaded as trust_remote_code would
        cls = get_class_from_dynamic_module("modeling_rwkv%s.Rwkv%sForCausalLM" % (ver, ver), str(out))
        m, info = cls.from_pretrained(str(out), vocab_size=VOCAB, torch_dtype=torch.float32, output_loading_info=True)
        m.eval()
        ref = official(name)
        with torch.no_grad():
            lg = m(torch.tensor([toks])).logits[0]
            rows, state = [], None
            for t in toks:
                o = m(torch.tensor([[t]]), state=state, use_cache=True)
                state = o.state
                rows.append(o.logits[0, -1])
            lt = torch.stack(rows)
        r["consumer"] = dict(
            model="Rwkv%sForCausalLM (rwkv%s_model/modeling_rwkv%s.py)" % (ver, ver, ver),
            overrides=dict(vocab_size=VOCAB), dtype="float32",
            rescale_every=m.config.rescale_every,
            layers_rescaled_after_forward=bool(getattr(getattr(m, "rwkv", None), "layers_are_rescaled", False)),
            loading_info={k: sorted(map(str, v)) for k, v in info.items()},
            max_abs_diff_vs_official_logits_seq=maxdiff(lg, ref["logits_seq"]),
            max_abs_diff_tok_vs_official_logits_tok=maxdiff(lt, ref["logits_tok"]),
            max_abs_diff_seq_vs_tok=maxdiff(lg, lt),
        )
        save_logits(work / "results" / (name + ".logits.safetensors"), lg,
                    dict(consumer="Rwkv%sForCausalLM remote code" % ver, transformers=transformers.__version__,
                         source="BBuf/RWKV-World-HF-Tokenizer@" + SOURCES["bbuf"]["commit"][:12]))
        r["config_written"] = json.loads((out / "config.json").read_text())
        res["files"][name] = r
        sys.modules.pop("configuration_rwkv%s" % ver, None)
    write_result(work, "t4_v56", res)


# ---------------------------------------------------------------------------------------------------
# step main_v4: transformers 5.x RwkvForCausalLM on the converter's folder and on the pushed folder
# ---------------------------------------------------------------------------------------------------


def step_main_v4(work):
    torch = _torch()
    import transformers
    from transformers import RwkvForCausalLM

    toks = tokens()
    res = dict(transformers=transformers.__version__, torch=torch.__version__, files={})
    for name in ("v4-bf16", "v4-fp16"):
        ref = official(name)
        r = {}
        for folder in ("convert", "push"):
            d = work / name / folder
            for tag, overrides in (("rescale0", dict(rescale_every=0)), ("as_written_rescale", {})):
                m, info = RwkvForCausalLM.from_pretrained(str(d), vocab_size=VOCAB, dtype=torch.float32,
                                                          output_loading_info=True, **overrides)
                m.eval()
                with torch.no_grad():
                    lg = m(torch.tensor([toks])).logits[0]
                    rows, state = [], None
                    for t in toks:
                        o = m(torch.tensor([[t]]), state=state, use_cache=True)
                        state = o.state
                        rows.append(o.logits[0, -1])
                    lt = torch.stack(rows)
                r["%s/%s" % (folder, tag)] = dict(
                    overrides=dict(vocab_size=VOCAB, **overrides), rescale_every=m.config.rescale_every,
                    param_dtypes=sorted({str(p.dtype).replace("torch.", "") for p in m.parameters()}),
                    loading_info={k: sorted(map(str, v)) for k, v in info.items()},
                    max_abs_diff_vs_official_logits_seq=maxdiff(lg, ref["logits_seq"]),
                    max_abs_diff_tok_vs_official_logits_tok=maxdiff(lt, ref["logits_tok"]),
                    max_abs_diff_seq_vs_tok=maxdiff(lg, lt))
                torch.save(lg, work / "results" / ("%s.%s.%s.pt" % (name, folder, tag)))
                if folder == "convert" and tag == "rescale0":
                    save_logits(work / "results" / (name + ".logits.safetensors"), lg,
                                dict(consumer="transformers RwkvForCausalLM", transformers=transformers.__version__,
                                     folder="converter output (pytorch_model.bin)", rescale_every=0,
                                     dtype="float32"))
        res["files"][name] = r
    write_result(work, "main_v4", res)


# ---------------------------------------------------------------------------------------------------
# step main_v56: does the 2024 RWKV org remote code still run under transformers 5.x?
# ---------------------------------------------------------------------------------------------------


def step_main_v56(work):
    torch = _torch()
    import transformers
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    toks = tokens()
    res = dict(transformers=transformers.__version__, files={})
    for ver, name in (("5", "v5.2-bf16"), ("6", "v6-bf16")):
        out = work / name / "convert"
        try:
            cls = get_class_from_dynamic_module("modeling_rwkv%s.Rwkv%sForCausalLM" % (ver, ver), str(out))
            m = cls.from_pretrained(str(out), vocab_size=VOCAB, dtype=torch.float32).eval()
            with torch.no_grad():
                lg = m(torch.tensor([toks])).logits[0]
            t4 = load_st(work / "results" / (name + ".logits.safetensors"))["logits"]
            res["files"][name] = dict(ok=True, max_abs_diff_vs_transformers_4_46_3_logits=maxdiff(lg, t4),
                                      max_abs_diff_vs_official_logits_seq=maxdiff(lg, official(name)["logits_seq"]))
        except Exception as e:  # noqa: BLE001 - recorded
            res["files"][name] = dict(ok=False, error=sanitize("%s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0]), work))
    write_result(work, "main_v56", res)


# ---------------------------------------------------------------------------------------------------
# step official_fp32: the official package on fp32-widened copies (isolates the ln0 quirk)
# ---------------------------------------------------------------------------------------------------


def step_official_fp32(work):
    torch = _torch()
    from rwkv.model import RWKV as OfficialRWKV

    toks = tokens()
    res = dict(rwkv=pkgv("rwkv"), env={k: v for k, v in sorted(os.environ.items()) if k.startswith("RWKV_")}, files={})
    d = work / "widened"
    d.mkdir(exist_ok=True)
    for name in ("v4-bf16", "v4-fp16", "v5.2-bf16", "v6-bf16"):
        sd = load_pth(name)
        p = d / (name + "-as-fp32.pth")
        torch.save({k: v.float() for k, v in sd.items()}, p)
        model = OfficialRWKV(str(p), "cpu fp32", verbose=False)
        with torch.no_grad():
            out, _ = model.forward(list(toks), None, full_output=True)
        lg = out.detach().float()
        torch.save(lg, work / "results" / (name + ".official_fp32_widened.pt"))
        res["files"][name] = dict(max_abs_diff_vs_official_logits_seq=maxdiff(lg, official(name)["logits_seq"]))
    write_result(work, "official_fp32", res)


# ---------------------------------------------------------------------------------------------------
# step main_v7convert: fla's convert_from_rwkv7.py (its real CLI), rwkv7-hf's converter, fla on CPU
# ---------------------------------------------------------------------------------------------------


def run_logged(cmd, work, log, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    with open(work / "logs.txt", "a") as f:
        f.write("===== %s (exit %d)\n%s\n%s\n" % (" ".join(map(str, cmd)), p.returncode, p.stdout, p.stderr))
    return p


def step_main_v7convert(work):
    torch = _torch()
    script = work / "src/fla/utils/convert_from_rwkv7.py"
    res = dict(transformers=pkgv("transformers"), flash_linear_attention=pkgv("flash-linear-attention"),
               fla_core=pkgv("fla-core"), triton=pkgv("triton"), rwkv7_hf=pkgv("rwkv7-hf"), torch=torch.__version__,
               converter="fla-org/flash-linear-attention@%s utils/convert_from_rwkv7.py" % SOURCES["fla"]["commit"][:12],
               runs={})
    for src, prec, tag in (("v7-bf16", "bf16", "v7-bf16"), ("v7-fp32", "bf16", "v7-fp32"),
                           ("v7-bf16", None, "v7-bf16-default-precision")):
        out = work / tag / "fla"
        cmd = [sys.executable, str(script), "--rwkv7", str(GOLDEN / (src + ".pth")), "--output", str(out)]
        if prec:
            cmd += ["--precision", prec]
        p = run_logged(cmd, work, "fla")
        shown = ["python", "convert_from_rwkv7.py", "--rwkv7", src + ".pth", "--output", "OUT"] + (["--precision", prec] if prec else [])
        r = dict(command=" ".join(shown), returncode=p.returncode)
        if p.returncode:
            r["error"] = last_error_line(p.stderr, work)
        else:
            r["files"] = folder_listing(out)
            r["safetensors"] = st_table(out / "model.safetensors")
            r["mapping"] = match_sources(load_pth(src), load_st(out / "model.safetensors"))
            r["config_written"] = json.loads((out / "config.json").read_text())
            r["uninitialized_parameters_line"] = [ln for ln in p.stdout.splitlines() if ln.startswith("uninitialized parameters")]
            r["redundant_parameters_lines"] = [ln.strip() for ln in p.stdout.splitlines() if ln.startswith("redundant parameters")]
        res["runs"][tag] = r

    # rwkv7-hf's own converter (a second outside writer of the same layout)
    out = work / "v7-bf16" / "rwkv7hf"
    vocab = work / "src/rwkvlm/RWKV-v7/rwkv_vocab_v20230424.txt"
    cmd = [sys.executable, "-m", "rwkv7_hf.cli", "convert", "--input", str(GOLDEN / "v7-bf16.pth"), "--output", str(out),
           "--vocab-file", str(vocab), "--precision", "bf16"]
    p = run_logged(cmd, work, "rwkv7hf")
    r = dict(command="rwkv7-hf convert --input v7-bf16.pth --output OUT --vocab-file rwkv_vocab_v20230424.txt --precision bf16",
             returncode=p.returncode)
    if p.returncode == 0:
        r["files"] = folder_listing(out)
        r["safetensors"] = st_table(out / "model.safetensors")
        r["model_safetensors_identical_to_fla_output"] = sha256_file(out / "model.safetensors") == sha256_file(work / "v7-bf16/fla/model.safetensors")
    else:
        r["error"] = last_error_line(p.stderr, work)
    res["rwkv7_hf_convert"] = r

    # fla's own model on this CPU (Triton without a GPU driver); with and without TRITON_INTERPRET=1
    probe = work / "fla_cpu_probe.py"
    probe.write_text(
        "import sys, torch, fla\n"
        "from transformers import AutoModelForCausalLM\n"
        "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32, fuse_norm=(sys.argv[2] == '1')).eval()\n"
        "with torch.no_grad():\n"
        "    m(torch.tensor([[0, 17, 342]]), use_cache=False)\n"
        "print('FORWARD OK')\n")
    fla_cpu = {}
    for interp in ("0", "1"):
        for fuse in ("1", "0"):
            env = dict(os.environ)
            if interp == "1":
                env["TRITON_INTERPRET"] = "1"
            p = run_logged([sys.executable, str(probe), str(work / "v7-bf16/fla"), fuse], work, "fla-cpu", env=env)
            fla_cpu["TRITON_INTERPRET=%s fuse_norm=%s" % (interp, "true" if fuse == "1" else "false")] = (
                "forward ok" if p.returncode == 0 and "FORWARD OK" in p.stdout else last_error_line(p.stderr, work))
    res["fla_cpu_forward"] = fla_cpu
    write_result(work, "main_v7convert", res)


# ---------------------------------------------------------------------------------------------------
# step main_v7run: rwkv7-hf (pure PyTorch) on fla's output (fla is NOT imported in this process)
# ---------------------------------------------------------------------------------------------------


def step_main_v7run(work):
    torch = _torch()
    from rwkv7_hf import RWKV7Config, RWKV7ForCausalLM

    assert "fla" not in sys.modules
    toks = tokens()
    ref = official("v7-bf16")
    res = dict(rwkv7_hf=pkgv("rwkv7-hf"), transformers=pkgv("transformers"), torch=torch.__version__, runs={})

    def run(d, cfg):
        m, info = RWKV7ForCausalLM.from_pretrained(str(d), config=cfg, dtype=torch.float32, output_loading_info=True)
        m.eval()
        with torch.no_grad():
            lg = m(torch.tensor([toks]), use_cache=False).logits[0]
            rows, cache = [], None
            for t in toks:
                o = m(torch.tensor([[t]]), past_key_values=cache, use_cache=True)
                cache = o.past_key_values
                rows.append(o.logits[0, -1])
            lt = torch.stack(rows)
        return m, info, lg, lt

    for tag in ("v7-bf16", "v7-fp32"):
        d = work / tag / "fla"
        cd = json.loads((d / "config.json").read_text())
        r = {}
        try:
            RWKV7Config.from_dict(dict(cd))
            r["config_as_written"] = "accepted"
        except Exception as e:  # noqa: BLE001 - recorded
            r["config_as_written"] = "%s: %s" % (type(e).__name__, e)
        patched = dict(cd, num_heads=N_EMBD // 64)
        cfg = RWKV7Config.from_dict(patched)
        m, info, lg, lt = run(d, cfg)
        r.update(
            config_override=dict(num_heads=N_EMBD // 64),
            resolved=dict(num_heads=cfg.num_heads, head_dim=cfg.head_dim, attention_hidden_size=cfg.attention_hidden_size),
            dtype="float32",
            param_dtypes=sorted({str(p.dtype).replace("torch.", "") for p in m.parameters()}),
            loading_info={k: sorted(map(str, v)) for k, v in info.items()},
            max_abs_diff_vs_official_logits_seq=maxdiff(lg, ref["logits_seq"]),
            max_abs_diff_tok_vs_official_logits_tok=maxdiff(lt, ref["logits_tok"]),
            max_abs_diff_seq_vs_tok=maxdiff(lg, lt),
        )
        torch.save(lg, work / "results" / (tag + ".rwkv7hf.pt"))
        if tag == "v7-bf16":
            save_logits(work / "results" / "v7-bf16.logits.safetensors", lg,
                        dict(consumer="rwkv7_hf.RWKV7ForCausalLM", rwkv7_hf=pkgv("rwkv7-hf"),
                             transformers=pkgv("transformers"), folder="fla convert_from_rwkv7.py output (bf16)",
                             config_override="num_heads=2", dtype="float32"))
        res["runs"][tag] = r
    # rwkv7-hf on its own converter's folder (its config is valid as written)
    d = work / "v7-bf16" / "rwkv7hf"
    cfg = RWKV7Config.from_pretrained(str(d))
    m, info, lg, lt = run(d, cfg)
    res["runs"]["v7-bf16 rwkv7-hf converter folder"] = dict(
        max_abs_diff_vs_official_logits_seq=maxdiff(lg, ref["logits_seq"]),
        max_abs_diff_vs_fla_folder_logits=maxdiff(lg, torch.load(work / "results" / "v7-bf16.rwkv7hf.pt")))
    write_result(work, "main_v7run", res)


STEPS = dict(t4_v4=step_t4_v4, t4_v56=step_t4_v56, main_v4=step_main_v4, main_v56=step_main_v56,
             official_fp32=step_official_fp32, main_v7convert=step_main_v7convert, main_v7run=step_main_v7run)


# ---------------------------------------------------------------------------------------------------
# parent: sources, steps, assembly
# ---------------------------------------------------------------------------------------------------


def git_show(gitdir, commit, path):
    gd = Path(gitdir)
    args = ["git", "--git-dir", str(gd / ".git" if (gd / ".git").exists() else gd), "show", "%s:%s" % (commit, path)]
    return subprocess.run(args, capture_output=True, check=True).stdout


def extract_sources(args, work):
    gits = dict(fla=args.fla_git, bbuf=args.bbuf_git, rwkvlm=args.rwkvlm_git)
    for key, src in SOURCES.items():
        for path, sha in src["files"].items():
            b = git_show(gits[key], src["commit"], path)
            got = sha256_bytes(b)
            if got != sha:
                sys.exit("%s %s@%s: sha256 %s, expected %s" % (src["repo"], path, src["commit"], got, sha))
            dst = work / "src" / key / path
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(b)
    # transformers 4.47.1's converter, from its PyPI wheel
    dl = work / "dl"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "transformers==4.47.1", "-d", str(dl)],
                   check=True)
    whl = dl / T4471["wheel"]
    if sha256_file(whl) != T4471["wheel_sha256"]:
        sys.exit("unexpected %s" % whl)
    with zipfile.ZipFile(whl) as z:
        b = z.read(T4471["member"])
    assert sha256_bytes(b) == T4471["member_sha256"]
    (work / "src/t4471").mkdir(parents=True, exist_ok=True)
    (work / "src/t4471/convert_rwkv_checkpoint_to_hf.py").write_bytes(b)


def child_env(work, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RWKV_") and k not in ("PYTHONPATH", "TRITON_INTERPRET")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_HOME=str(work / "hf_home"), HF_MODULES_CACHE=str(work / "hf_modules"),
               TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def run_step(py, step, work, extra_env=None):
    cmd = [py, str(Path(__file__).resolve()), "--step", step, "--work", str(work)]
    print("step", step, "...", flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=child_env(work, extra_env))
    with open(work / "logs.txt", "a") as f:
        f.write("===== step %s (exit %d)\n%s\n%s\n" % (step, p.returncode, p.stdout, p.stderr))
    if p.returncode != 0:
        sys.exit("step %s failed (log: %s):\n%s" % (step, work / "logs.txt", p.stderr[-4000:]))
    return json.loads((work / "results" / (step + ".json")).read_text())


def freeze(py):
    out = subprocess.run([py, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True).stdout
    want = {"transformers", "tokenizers", "huggingface-hub", "huggingface_hub", "safetensors", "torch", "numpy",
            "flash-linear-attention", "fla-core", "rwkv7-hf", "triton", "rwkv", "flash-rwkv", "setuptools", "einops"}
    res = {}
    for ln in out.splitlines():
        if "==" in ln:
            n, v = ln.split("==", 1)
            if n.lower().replace("_", "-") in {w.replace("_", "-") for w in want}:
                res[n.lower().replace("_", "-")] = v
    return dict(sorted(res.items()))


def dump(path, obj):
    Path(path).write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def main_parent(args):
    import torch  # main environment
    from safetensors.torch import load_file

    work = Path(tempfile.mkdtemp(prefix="hf-golden-")) if not args.work else Path(args.work)
    if work.exists() and any(work.iterdir()):
        sys.exit("--work must be empty: %s" % work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "results").mkdir()
    print("work dir:", work)
    extract_sources(args, work)
    shim = work / "shim"
    (shim / "flash_rwkv").mkdir(parents=True)
    (shim / "flash_rwkv/__init__.py").write_text(
        '"""Import shim for golden/hf: the real flash-rwkv JIT-compiles a CUDA kernel when imported."""\n'
        "def rwkv5_cuda_linear_attention(*args, **kwargs):\n"
        "    raise RuntimeError('flash-rwkv shim: the CUDA path must not run in these fixtures')\n"
        "def rwkv6_cuda_linear_attention(*args, **kwargs):\n"
        "    raise RuntimeError('flash-rwkv shim: the CUDA path must not run in these fixtures')\n")

    t4 = args.t4_python
    me = sys.executable
    r_t4v4 = run_step(t4, "t4_v4", work)
    r_t4v56 = run_step(t4, "t4_v56", work, dict(PYTHONPATH=str(shim)))
    r_v4 = run_step(me, "main_v4", work)
    r_v56 = run_step(me, "main_v56", work)
    r_off = run_step(me, "official_fp32", work, dict(RWKV_JIT_ON="0", RWKV_CUDA_ON="0"))
    r_v7c = run_step(me, "main_v7convert", work)
    r_v7r = run_step(me, "main_v7run", work)
    envs = dict(main=dict(python=sys.version.split()[0], packages=freeze(me)),
                t4=dict(python=subprocess.run([t4, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                                              text=True).stdout.strip(), packages=freeze(t4)))
    sources = {k: dict(repo=v["repo"], commit=v["commit"], files=v["files"]) for k, v in SOURCES.items()}
    sources["transformers-4.47.1"] = dict(pypi_wheel=T4471["wheel"], wheel_sha256=T4471["wheel_sha256"],
                                          files={T4471["member"]: T4471["member_sha256"]})
    res_dir = work / "results"
    HERE.mkdir(exist_ok=True)

    def logits_file(src, dst):
        shutil.copyfile(res_dir / src, HERE / dst)
        os.chmod(HERE / dst, 0o644)
        return dict(file=dst, sha256=sha256_file(HERE / dst), tensor="logits", dtype="F32", shape=[len(tokens()), VOCAB],
                    call="one forward over the 24 golden tokens, logits at every position")

    common = dict(tokens=tokens(), environments=envs, dtype_names="safetensors names: F32, BF16, F16")

    # ---- RWKV-4
    for name in ("v4-bf16", "v4-fp16"):
        c = r_t4v4["files"][name]
        m = r_v4["files"][name]
        lg5 = torch.load(res_dir / ("%s.convert.rescale0.pt" % name))
        lg4 = load_file(str(res_dir / (name + ".t4.logits.safetensors")))["logits"]
        lpush = torch.load(res_dir / ("%s.push.rescale0.pt" % name))
        lres = torch.load(res_dir / ("%s.convert.as_written_rescale.pt" % name))
        lwide = torch.load(res_dir / (name + ".official_fp32_widened.pt"))
        doc = dict(
            checkpoint=dict(file=name + ".pth", sha256=sha256_file(GOLDEN / (name + ".pth"))),
            converter=dict(
                name="transformers convert_rwkv_checkpoint_to_hf.py",
                file=r_t4v4["converter_file"], sha256=r_t4v4["converter_sha256"],
                why_this_version="transformers 4.46.3 is the last release whose copy of the script works: 4.47.x ships a "
                                 "rewrite that saves one file per tensor (see converter_4_47_1), and 4.48+ no longer "
                                 "ship the script. Run inside transformers 4.46.3 (it imports shard_checkpoint).",
                invocation=c["invocation"],
                bypassed=[
                    "huggingface_hub.hf_hub_download (module attribute hf_hub_download) replaced by a function that returns "
                    "the local golden/%s.pth; it was called with the arguments in hf_hub_download_calls" % (name + ".pth"),
                    "an entry %r -> %d layers / %d hidden added to NUM_HIDDEN_LAYERS_MAPPING / HIDEN_SIZE_MAPPING (the "
                    "script only knows 169M..14B and reads neither from the checkpoint); --size %s passed" % (
                        SIZE_KEY, N_LAYER, N_EMBD, SIZE_KEY),
                    "--tokenizer_file given (BlinkDL/RWKV-LM RWKV-v4/20B_tokenizer.json) instead of the default "
                    "AutoTokenizer.from_pretrained('EleutherAI/gpt-neox-20b'), which needs the hub; so vocab_size is "
                    "len(tokenizer) = 50277, as for the official Pile models",
                    "push_to_hub=False; its save step is emulated in push_emulation",
                ],
                hf_hub_download_calls=c["hf_hub_download_calls"],
            ),
            output=dict(
                files=c["files"], shards=c["shards"], index_json=c["index_json"],
                note="pytorch_model.bin (torch.save zip), not safetensors: the converter has no safetensors path; "
                     "no safetensors header exists for this output (see push_emulation for the safetensors form)",
                config_json=c["config_written"],
                pytorch_model_bin=c["pytorch_model.bin"],
                mapping=c["mapping"],
            ),
            push_emulation=c["push_emulation"],
            consumer=dict(
                name="transformers RwkvForCausalLM",
                transformers=r_v4["transformers"],
                folder="output (the converter's folder, pytorch_model.bin)",
                dtype="float32", device="cpu",
                config_overrides=dict(vocab_size=VOCAB, rescale_every=0),
                why_overrides="vocab_size: the converter wrote 50277 (from the tokenizer), the checkpoint has 512 rows; "
                              "rescale_every: transformers rescales even in fp32 (config says 6)",
                logits=logits_file(name + ".logits.safetensors", name + ".transformers.safetensors"),
                runs=m,
                max_abs_diff_vs_official_logits_seq=float((lg5 - official_(name)["logits_seq"]).abs().max()),
                max_abs_diff_vs_transformers_4_46_3=float((lg5 - lg4).abs().max()),
                transformers_4_46_3_runs=c["consumer_t4"],
                max_abs_diff_vs_pushed_fp32_safetensors_folder=float((lg5 - lpush).abs().max()),
                max_abs_diff_rescale_every_6_vs_0=float((lg5 - lres).abs().max()),
                official_on_fp32_widened_checkpoint=dict(
                    what="the official rwkv package (cpu fp32) on this checkpoint widened to fp32 before loading, so that "
                         "it folds ln0 in fp32",
                    max_abs_diff_vs_official_logits_seq=r_off["files"][name]["max_abs_diff_vs_official_logits_seq"],
                    max_abs_diff_vs_this_consumer=float((lg5 - lwide).abs().max())),
            ),
        )
        if name == "v4-bf16":
            doc["converter_4_47_1"] = r_t4v4["converter_4_47_1"]
        doc.update(common)
        dump(HERE / (name + ".json"), doc)

    # ---- RWKV-5.2 / RWKV-6
    for ver, name in (("5", "v5.2-bf16"), ("6", "v6-bf16")):
        c = r_t4v56["files"][name]
        lg = load_file(str(res_dir / (name + ".logits.safetensors")))["logits"]
        lwide = torch.load(res_dir / (name + ".official_fp32_widened.pt"))
        doc = dict(
            checkpoint=dict(file=name + ".pth", sha256=sha256_file(GOLDEN / (name + ".pth"))),
            converter=dict(
                name="RWKV org (BBuf/RWKV-World-HF-Tokenizer) scripts/convert_rwkv%s_checkpoint_to_hf.py + "
                     "scripts/convert_rwkv%s_world_model_to_hf.sh" % (ver, ver),
                source="%s@%s" % (SOURCES["bbuf"]["repo"], SOURCES["bbuf"]["commit"]),
                run_under="transformers 4.46.3 (the script imports transformers.modeling_utils.shard_checkpoint)",
                invocation=c["invocation"],
                bypassed=[
                    "an entry %r -> %d layers / %d hidden added to NUM_HIDDEN_LAYERS_MAPPING / HIDEN_SIZE_MAPPING; "
                    "--size %s passed" % (SIZE_KEY, N_LAYER, N_EMBD, SIZE_KEY),
                    "nothing downloaded: --local_model_file and the repo's own rwkv5_world_tokenizer directory are used",
                    "the shell script's cp lines are done by shutil.copyfile (same files, same destination)",
                ],
                shell_script_copies=c["shell_script_copies"],
                shell_script_overwrote=c["shell_script_overwrote"],
            ),
            output=dict(
                files_written_by_converter=c["files_converter"],
                files_after_shell_script=c["files_after_shell_script"],
                shards=["pytorch_model.bin"], index_json=None,
                note="pytorch_model.bin (torch.save zip), not safetensors; no safetensors header exists for this output",
                config_json=c["config_written"],
                pytorch_model_bin=c["pytorch_model.bin"],
                mapping=c["mapping"],
                automodel_load_of_folder=c["automodel_load_of_converter_folder"],
            ),
            consumer=dict(
                name="Rwkv%sForCausalLM (RWKV org remote code, rwkv%s_model/modeling_rwkv%s.py, copied into the folder "
                     "by the shell script)" % (ver, ver, ver),
                transformers=r_t4v56["transformers"],
                loaded_with="transformers.dynamic_module_utils.get_class_from_dynamic_module('modeling_rwkv%s.Rwkv%sForCausalLM', "
                            "folder).from_pretrained(folder, vocab_size=512, torch_dtype=float32) (what trust_remote_code "
                            "does; the written config.json has no auto_map)" % (ver, ver),
                dtype="float32", device="cpu",
                config_overrides=dict(vocab_size=VOCAB),
                why_overrides="the converter writes vocab_size 65536 for any World-tokenizer conversion (hard-coded); "
                              "the checkpoint has 512 rows",
                flash_rwkv=("modeling_rwkv5.py imports flash_rwkv at module level and needs pkg_resources; the real "
                            "flash-rwkv (installed, so that pkg_resources finds its version) JIT-compiles CUDA when imported "
                            "and fails here (real_flash_rwkv_import), so the step puts an import shim first on PYTHONPATH "
                            "whose functions raise if called; eval mode never calls them (CPU path)") if ver == "5" else
                           "not needed (modeling_rwkv6.py imports fla's fused kernel optionally; fla is absent in this env)",
                real_flash_rwkv_import=r_t4v56["real_flash_rwkv_import"],
                logits=logits_file(name + ".logits.safetensors", name + (".rwkv%shf.safetensors" % ver)),
                run=c["consumer"],
                under_transformers_5=r_v56["files"][name],
                official_on_fp32_widened_checkpoint=dict(
                    what="the official rwkv package (cpu fp32) on this checkpoint widened to fp32 before loading",
                    max_abs_diff_vs_official_logits_seq=r_off["files"][name]["max_abs_diff_vs_official_logits_seq"],
                    max_abs_diff_vs_this_consumer=float((lg - lwide).abs().max())),
            ),
        )
        doc.update(common)
        dump(HERE / (name + ".json"), doc)

    # ---- RWKV-7
    for tag in ("v7-bf16", "v7-fp32"):
        c = r_v7c["runs"][tag]
        rr = r_v7r["runs"][tag]
        cfg = c["config_written"]
        doc = dict(
            checkpoint=dict(file=tag + ".pth", sha256=sha256_file(GOLDEN / (tag + ".pth"))),
            converter=dict(
                name="fla utils/convert_from_rwkv7.py",
                source="%s@%s" % (SOURCES["fla"]["repo"], SOURCES["fla"]["commit"]),
                run_with={k: r_v7c[k] for k in ("transformers", "flash_linear_attention", "fla_core", "triton", "torch")},
                command=c["command"], returncode=c["returncode"],
                bypassed=["nothing: the script's own command line, run on this CPU-only machine"],
                default_precision_run=r_v7c["runs"]["v7-bf16-default-precision"],
                stdout_uninitialized=c["uninitialized_parameters_line"],
                stdout_redundant=c["redundant_parameters_lines"],
            ),
            output=dict(
                files=c["files"], shards=["model.safetensors"], index_json=None,
                config_json=cfg,
                config_problems=dict(
                    num_heads=dict(written=cfg.get("num_heads"), should_be=N_EMBD // cfg.get("head_dim", 64),
                                   why="RWKV7Config() computes num_heads from its default hidden_size 2048 / head_dim 64 "
                                       "= 32; the script assigns hidden_size afterwards and never updates num_heads"),
                    head_dim=dict(written=cfg.get("head_dim"), from_checkpoint="r_k.shape[1] = 64 (script never reads it)"),
                    bos_token_id=dict(written=cfg.get("bos_token_id"), rwkv_uses=0),
                    eos_token_id=dict(written=cfg.get("eos_token_id"), rwkv_uses=0),
                    dtype_key=("the dtype is written as 'dtype' (transformers %s); older transformers wrote 'torch_dtype'"
                               % r_v7c["transformers"]),
                ),
                safetensors=c["safetensors"],
                mapping=c["mapping"],
            ),
            consumer=dict(
                name="rwkv7_hf.RWKV7ForCausalLM (rwkv7-hf, pure PyTorch)",
                rwkv7_hf=r_v7r["rwkv7_hf"], transformers=r_v7r["transformers"],
                folder="fla's output folder as written; the config dict patched in memory only",
                config_as_written=rr["config_as_written"],
                config_overrides=rr["config_override"], resolved=rr["resolved"],
                dtype="float32", device="cpu",
                run=rr,
                fla_not_imported_in_consumer_process=True,
            ),
        )
        if tag == "v7-bf16":
            doc["consumer"]["logits"] = logits_file("v7-bf16.logits.safetensors", "v7-bf16.rwkv7hf.safetensors")
            doc["consumer"]["rwkv7_hf_own_converter_folder"] = r_v7r["runs"]["v7-bf16 rwkv7-hf converter folder"]
            doc["fla_cpu_forward"] = dict(
                what="fla's own RWKV7ForCausalLM forward on this CPU (float32); triton %s, no GPU" % r_v7c["triton"],
                results=r_v7c["fla_cpu_forward"])
            rc = r_v7c["rwkv7_hf_convert"]
            doc["rwkv7_hf_converter"] = dict(
                command=rc["command"], returncode=rc["returncode"], files=rc.get("files"),
                model_safetensors_identical_to_fla_output=rc.get("model_safetensors_identical_to_fla_output"),
                safetensors_header_sha256=(rc.get("safetensors") or {}).get("header_sha256"))
        else:
            b = r_v7c["runs"]["v7-bf16"]
            doc["same_as_v7_bf16"] = dict(
                model_safetensors_identical=c["safetensors"]["file_sha256"] == b["safetensors"]["file_sha256"],
                config_json_identical=c["config_written"] == b["config_written"],
                logits_identical=bool(torch.equal(torch.load(res_dir / "v7-fp32.rwkv7hf.pt"),
                                                  torch.load(res_dir / "v7-bf16.rwkv7hf.pt"))))
        doc.update(common)
        dump(HERE / (tag + ".json"), doc)

    # ---- tokenizer files
    def small(files, names=None):
        return {f["name"]: (f.get("text") if f.get("text") is not None else dict(size=f["size"], sha256=f["sha256"]))
                for f in files if names is None or f["name"] in names}

    bb_tok = work / "src/bbuf/rwkv5_world_tokenizer"
    tf = dict(
        description="Which tokenizer files each official converter writes or expects, with the verbatim text of the "
                    "small JSON files and size+sha256 of the rest, as produced by the runs recorded in the model JSONs.",
        transformers_rwkv4=dict(
            converter="transformers 4.46.3 convert_rwkv_checkpoint_to_hf.py, --tokenizer_file 20B_tokenizer.json",
            code="PreTrainedTokenizerFast(tokenizer_file=...).save_pretrained(output_dir); vocab_size = len(tokenizer)",
            default_not_run="without --tokenizer_file it calls AutoTokenizer.from_pretrained('EleutherAI/gpt-neox-20b') "
                            "(hub, unreachable) and hard-codes vocab_size 50277",
            input=dict(file="BlinkDL/RWKV-LM RWKV-v4/20B_tokenizer.json", sha256=SOURCES["rwkvlm"]["files"]["RWKV-v4/20B_tokenizer.json"]),
            files_written=small([f for f in r_t4v4["files"]["v4-bf16"]["files"]
                                 if f["name"] not in ("config.json",) and not f["name"].startswith("pytorch_model")]),
            generation_config_json_of_push_emulation=small(r_t4v4["files"]["v4-bf16"]["push_emulation"]["files"],
                                                           {"generation_config.json"}),
        ),
    )
    for ver, name in (("5", "v5.2-bf16"), ("6", "v6-bf16")):
        c = r_t4v56["files"][name]
        tf["rwkv_org_rwkv%s" % ver] = dict(
            converter="BBuf/RWKV-World-HF-Tokenizer scripts/convert_rwkv%s_checkpoint_to_hf.py + the .sh copies" % ver,
            code="AutoTokenizer.from_pretrained(rwkv5_world_tokenizer, trust_remote_code=True).save_pretrained(output_dir); "
                 "vocab_size = 65536 (hard-coded)",
            input_dir={f: dict(size=(bb_tok / f).stat().st_size, sha256=sha256_file(bb_tok / f))
                       for f in sorted(os.listdir(bb_tok))},
            written_by_converter=small([f for f in c["files_converter"]
                                        if f["name"] not in ("config.json",) and not f["name"].startswith("pytorch_model")]),
            copied_by_shell_script=c["shell_script_copies"],
            overwritten_by_shell_script=c["shell_script_overwrote"],
            final_folder=small([f for f in c["files_after_shell_script"]
                                if f["name"] not in ("config.json",) and not f["name"].startswith("pytorch_model")
                                and not f["name"].endswith(".py")]),
            final_python_files={f["name"]: dict(size=f["size"], sha256=f["sha256"]) for f in c["files_after_shell_script"]
                                if f["name"].endswith(".py")},
        )
    tf["fla_rwkv7"] = dict(
        converter="fla utils/convert_from_rwkv7.py",
        writes_tokenizer_files=False,
        files_written=[f["name"] for f in r_v7c["runs"]["v7-bf16"]["files"]],
        generation_config_json=small(r_v7c["runs"]["v7-bf16"]["files"], {"generation_config.json"}),
        expects="nothing; fla-hub repos add a World tokenizer by hand (hf_rwkv_tokenizer.py + rwkv_vocab_v20230424.txt, "
                "see shared notes section 9.2 C; not verifiable here)",
    )
    rc = r_v7c["rwkv7_hf_convert"]
    tf["rwkv7_hf"] = dict(
        converter="rwkv7-hf %s convert (--vocab-file = BlinkDL/RWKV-LM RWKV-v7/rwkv_vocab_v20230424.txt, LF)" % r_v7c["rwkv7_hf"],
        files_written=small([f for f in rc.get("files", []) if f["name"] != "config.json" and f["name"] != "model.safetensors"]),
    )
    tf["sources"] = sources
    dump(HERE / "tokenizer_files.json", tf)
    if not args.keep_work:
        shutil.rmtree(work)
    else:
        print("kept", work)
    print("done")


def official_(name):
    from safetensors.torch import load_file
    return load_file(str(GOLDEN / (name + ".official.safetensors")))


def setup(dirpath):
    d = Path(dirpath)
    for env, req in (("main", "requirements.txt"), ("t4", "requirements-transformers4.txt")):
        if not (d / env / "bin/python").exists():
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(d / env)], check=True)
        subprocess.run([str(d / env / "bin/python"), "-m", "pip", "install", "-q", "-r", str(HERE / req)], check=True)
    print("venvs ready; run:\n  %s %s --t4-python %s --fla-git ... --bbuf-git ... --rwkvlm-git ..." % (
        d / "main/bin/python", Path(__file__).resolve(), d / "t4/bin/python"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", metavar="DIR", help="create the two venvs under DIR and exit")
    ap.add_argument("--t4-python", help="python of the transformers 4.46.3 environment")
    mirror = Path("/work/.mirror")
    ap.add_argument("--fla-git", default=str(mirror / "fla-org+flash-linear-attention/repo"))
    ap.add_argument("--bbuf-git", default=str(mirror / "BBuf+RWKV-World-HF-Tokenizer/repo"))
    ap.add_argument("--rwkvlm-git", default=str(mirror / "BlinkDL+RWKV-LM/repo"))
    ap.add_argument("--work", help="empty scratch dir (default: a new temp dir)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        STEPS[args.step](Path(args.work))
        return
    if args.setup:
        setup(args.setup)
        return
    if not args.t4_python:
        ap.error("--t4-python is required (see --setup)")
    main_parent(args)


if __name__ == "__main__":
    main()
