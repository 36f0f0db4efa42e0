#!/usr/bin/env python3
"""Consumer fixtures: quantlab's Hugging Face exports loaded by the tools users load them with, and
their logits on fixed token ids recorded in small JSON files that a CI test holds quantlab's own
reload of the same folders to (tests/pipeline/consumer_fixtures_test.cpp).

    python3 -m venv /work/venv-consumers
    /work/venv-consumers/bin/pip install torch==2.15.0 transformers==5.25.0 compressed-tensors==0.20.1 \\
        bitsandbytes==0.50.2 safetensors accelerate optimum==2.3.0
    BUILD_CUDA_EXT=0 /work/venv-consumers/bin/pip install gptqmodel==7.7.0   # sdist; its CPU kernel JIT-compiles
                                                                             # on first use (~10 min on 2 cores)
    /work/venv-consumers/bin/python tools/make-consumer-fixtures.py --quantlab build/quantlab [--models tiny,bench]

For each model and each export this runs `quantlab quantize ... --out DIR` (the arguments are
recorded), then loads DIR with:
  nf4, fp4, int8        transformers + bitsandbytes (its CPU backend), the loader users use
  compressed-tensors    transformers + the compressed-tensors package (CompressedLinear)
  gptq, gptq act-order  transformers + optimum + GPTQModel 7.7.0 (built from its sdist without CUDA
                        extensions: TorchLinear on the CPU), where it imports
  awq                   AutoAWQ is an sdist only (0.2.9, archived) with CUDA kernels: not installed; a
                        stated fallback reads these folders (and GPTQ folders under
                        --no-gptq-awq-loaders): the tensors dequantized by this script's own numpy
                        reading of the documented GPTQ v1 / AWQ GEMM layouts (no quantlab code) into
                        the transformers model of the same config.json without its quantization_config.
and records, for the last `positions` positions of the fixed token ids, the top-k logits and the
log-sum-exp. The fixture header names the command, the versions and the loader used.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Token ids the logits are taken on (valid in both vocabularies: tiny has 512 tokens).
TOKENS = [1, 401, 73, 288, 15, 330, 91, 260, 42, 317, 120, 459, 7, 385, 200, 66]
POSITIONS = 4
TOP_K = 8


def assets(name):
    out = subprocess.run([os.path.join(HERE, "fetch-assets"), "--print", name], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def bench_f32(ql):
    """The bench model's F32 base (its shipped Q4_1 weights, dequantized; quantize refuses to round the
    Q4_1 file again), where the tests find it: made by `quantlab quantize --method gguf --type F32`,
    the same file as ctest's setup.bench_f32_base."""
    shipped = assets("bench")
    cache = os.environ.get("QUANTLAB_ASSETS", os.path.expanduser("~/.cache/quantlab/assets"))
    path = os.path.join(cache, "derived", "SmolLM2-135M-Instruct.Q4_1.f32.gguf")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([ql, "quantize", "--method", "gguf", "--type", "F32", "--allow-requantize",
                        "--model", shipped, "--out", path], check=True)
    return path


def shared_dir():
    """As tests/test_support.hpp: $QUANTLAB_SHARED, else ../shared beside the checkout, else the asset cache."""
    if os.environ.get("QUANTLAB_SHARED"):
        return os.environ["QUANTLAB_SHARED"]
    beside = os.path.join(os.path.dirname(ROOT), "shared")
    if os.path.isdir(beside):
        return beside
    return os.environ.get("QUANTLAB_ASSETS", os.path.expanduser("~/.cache/quantlab/assets"))


def models(ql):
    shared = shared_dir()
    return {
        "tiny": {
            "path": os.path.join(shared, "models", "aidreams260K", "aidreams260K.bin"),
            "tokenizer": os.path.join(shared, "models", "aidreams260K", "tok512.bin"),
            "calib": os.path.join(shared, "data", "wikitext-2-raw", "wiki.test.raw"),
            # dim 64, hidden 172: 4-bit GPTQ cannot pack 172 inputs and AWQ needs outputs in 8s, so
            # the tiny model's grids are 8-bit per channel in the GPTQ layout and 4-bit per channel
            # in compressed-tensors (padded words). RTN: `quantize --calib` does not take a llama2.c
            # model yet, so GPTQ/AWQ are covered on the bench model.
            "exports": {
                "nf4": ["--method", "nf4"],
                "fp4": ["--method", "fp4"],
                "int8": ["--method", "int8"],
                "rtn-8bit-gptq-layout": ["--method", "rtn", "--bits", "8", "--group-size", "0"],
                "ct-rtn-4bit-channel": ["--method", "rtn", "--bits", "4", "--group-size", "0", "--export-format",
                                        "compressed-tensors"],
                "ct-rtn-4bit-channel-sym": ["--method", "rtn", "--bits", "4", "--group-size", "0", "--sym",
                                            "--export-format", "compressed-tensors"],
            },
        },
        "bench": {
            "path": bench_f32(ql),
            "calib": assets("groups_merged"),
            "exports": {
                "nf4": ["--method", "nf4"],
                "fp4": ["--method", "fp4"],
                "int8": ["--method", "int8"],
                "gptq": ["--method", "gptq", "--bits", "4", "--group-size", "64"],
                "gptq-act-order": ["--method", "gptq", "--bits", "4", "--group-size", "64", "--act-order"],
                "awq": ["--method", "awq", "--bits", "4", "--group-size", "64"],
                # compressed-tensors 0.20 reads act-order only with static groups (actorder "weight").
                "ct-gptq-act-order": ["--method", "gptq", "--bits", "4", "--group-size", "64", "--act-order",
                                      "--static-groups", "--export-format", "compressed-tensors"],
                "ct-awq": ["--method", "awq", "--bits", "4", "--group-size", "64", "--export-format", "compressed-tensors"],
                "ct-gptq-sym": ["--method", "gptq", "--bits", "4", "--group-size", "64", "--sym", "--export-format",
                                "compressed-tensors"],
                "ct-rtn-8bit": ["--method", "rtn", "--bits", "8", "--group-size", "64", "--sym", "--export-format",
                                "compressed-tensors"],
            },
        },
    }


CALIB = ["--format", "text-paragraphs", "--raw", "--samples", "16", "--seq-len", "128", "--seed", "0", "--threads", "2"]


def quantize(ql, model, name, args, work, reuse=False):
    out = os.path.join(work, name)
    cmd = [ql, "quantize", "--model", model["path"], "--out", out] + args
    if any(a in ("gptq", "awq") for a in args):
        cmd += ["--calib", model["calib"]] + CALIB
        if "tokenizer" in model:
            cmd += ["--tokenizer", model["tokenizer"]]
    if not (reuse and os.path.exists(os.path.join(out, "config.json"))):
        subprocess.run(cmd + ["--json"], check=True, capture_output=True)
    return out, cmd


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the stated fallback for GPTQ/AWQ: the documented layouts read with numpy ---------------------

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def bits_stream(words, n, bits):
    """Values k*bits.. of little-endian 32-bit words along axis 0 (words: [w, cols])."""
    raw = np.ascontiguousarray(words.astype("<u4")).view(np.uint8)
    bitsarr = np.unpackbits(raw.reshape(words.shape[0], words.shape[1], 4), axis=2, bitorder="little")
    bitsarr = bitsarr.transpose(1, 0, 2).reshape(words.shape[1], -1)[:, : n * bits].reshape(words.shape[1], n, bits)
    return (bitsarr.astype(np.int64) << np.arange(bits)).sum(axis=2).T  # [n, cols]


def dequant_gptq(t, prefix, bits):
    qweight, qzeros, scales, g_idx = (t[prefix + k] for k in ("qweight", "qzeros", "scales", "g_idx"))
    out = qweight.shape[1]
    q = bits_stream(qweight, qweight.shape[0] * 32 // bits, bits)  # [in, out]
    z = bits_stream(qzeros.T, out, bits).T + 1  # [groups, out]
    s = scales.astype(np.float32)
    w = s[g_idx] * (q.astype(np.float32) - z[g_idx].astype(np.float32))
    return w.T.copy()


def dequant_awq(t, prefix, group):
    qweight, qzeros, scales = (t[prefix + k] for k in ("qweight", "qzeros", "scales"))
    def unpack(a):
        u = a.astype(np.int64) & 0xFFFFFFFF
        cols = np.stack([(u >> (4 * k)) & 15 for k in range(8)], axis=-1)  # [.., out/8, 8] in storage order
        out = np.empty_like(cols)
        out[..., AWQ_ORDER] = cols
        return out.reshape(a.shape[0], -1)
    q, z = unpack(qweight), unpack(qzeros)  # [in, out], [groups, out]
    gi = np.arange(q.shape[0]) // (group if group > 0 else q.shape[0])
    w = scales.astype(np.float32)[gi] * (q.astype(np.float32) - z[gi].astype(np.float32))
    return w.T.copy()


def load_fallback(folder, torch, transformers):
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(folder, "config.json")))
    qc = cfg.pop("quantization_config")
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    state = {}
    for name, v in tensors.items():
        if name.endswith(".qweight"):
            prefix = name[: -len("qweight")]
            if qc["quant_method"] == "gptq":
                w = dequant_gptq(tensors, prefix, qc["bits"])
            else:
                w = dequant_awq(tensors, prefix, qc["group_size"])
            state[prefix + "weight"] = torch.from_numpy(w)
        elif not any(name.endswith(s) for s in (".qzeros", ".scales", ".g_idx")):
            state[name] = torch.from_numpy(v.astype(np.float32))
    config = transformers.AutoConfig.for_model(**cfg)
    model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise SystemExit(f"{folder}: fallback state dict mismatch: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    return model


def load_consumer(folder, kind, torch, transformers, use_loaders=True):
    if kind in ("gptq", "awq"):
        try:
            if not use_loaders:
                raise ImportError("--no-gptq-awq-loaders")
            if kind == "gptq":
                import gptqmodel  # noqa: F401
            else:
                import awq  # noqa: F401
            model = transformers.AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
            return model, ("gptqmodel " if kind == "gptq" else "autoawq ") + "via transformers"
        except ImportError:
            why = "not used (--no-gptq-awq-loaders)" if not use_loaders else "not importable here"
            return load_fallback(folder, torch, transformers), (
                "fallback: numpy dequantization of the documented " + ("GPTQ v1" if kind == "gptq" else "AWQ GEMM") +
                " layout into transformers' model (" + ("GPTQModel" if kind == "gptq" else "AutoAWQ") + " " + why + ")")
    loader = "transformers " + ("+ bitsandbytes" if kind == "bitsandbytes" else "+ compressed-tensors")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, device_map="cpu", dtype=torch.float32)
        if kind == "compressed-tensors":
            loader += " (run_compressed: CompressedLinear)"
    except RuntimeError as e:
        # transformers 5.25 + compressed-tensors 0.20.1 register asymmetric pack-quantized zero points
        # unpacked ([out, groups]) for run_compressed models and then refuse the packed
        # [ceil(out/8), groups] tensor that compressed-tensors' own compressor writes (its own
        # save/load round trip fails the same way); decompressing at load reads it.
        if kind != "compressed-tensors" or "mismatch" not in str(e):
            raise
        qc = transformers.CompressedTensorsConfig(run_compressed=False)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, device_map="cpu", dtype=torch.float32,
                                                                  quantization_config=qc)
        loader += " (run_compressed=False: asymmetric zero points trip run_compressed loading)"
    # bitsandbytes' AVX512-BF16 CPU fast path for Linear4bit repacks the weights for a kernel that
    # needs out_features % 32 == 0 (the tiny model's 172 trips its assert) and computes in bf16;
    # its generic path (dequantize_4bit, then an f32 matmul) is the one this fixture records.
    fast = [m for m in model.modules() if getattr(m, "support_avx512bf16_for_cpu", False)]
    for m in fast:
        m.support_avx512bf16_for_cpu = False
    if fast:
        loader += " (generic CPU path; AVX512-BF16 fast path off)"
    return model, loader


def positions_of(logits):
    rows = []
    for p in range(len(TOKENS) - POSITIONS, len(TOKENS)):
        row = logits[p].astype(np.float64)
        top = np.argsort(-row, kind="stable")[:TOP_K]
        lse = float(np.log(np.exp(row - row.max()).sum()) + row.max())
        rows.append({"position": p, "top_ids": [int(i) for i in top], "top_logits": [float(row[i]) for i in top],
                     "logsumexp": lse})
    return rows


def int8_weights_dequantized(model, torch):
    """Swaps every Linear8bitLt for an f32 Linear holding bitsandbytes' own dequantization of its
    CB/SCB (int8_vectorwise_dequant): the folder's weights as bitsandbytes reads them, without the
    int8 activation rounding of LLM.int8's matmul, which quantlab's weight-only evaluation does not do."""
    import bitsandbytes as bnb
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, bnb.nn.Linear8bitLt):
                # After a forward pass bitsandbytes keeps CB/SCB in the layer's state.
                scb = child.weight.SCB if getattr(child.weight, "SCB", None) is not None else child.state.SCB
                cb = child.weight.data if child.weight.data.dtype == torch.int8 else child.state.CB
                w = bnb.functional.int8_vectorwise_dequant(cb, scb).float()
                lin = torch.nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
                lin.weight.data = w
                if child.bias is not None:
                    lin.bias.data = child.bias.data.float()
                setattr(parent, name, lin)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--models", default="tiny,bench")
    ap.add_argument("--work", default="/tmp/quantlab-consumer-fixtures")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "pipeline", "fixtures", "consumers"))
    ap.add_argument("--only", default="", help="comma-separated exports to (re)record into the existing fixture")
    ap.add_argument("--reuse", action="store_true", help="keep export folders already under --work (made by this script)")
    ap.add_argument("--no-gptq-awq-loaders", action="store_true",
                    help="read GPTQ/AWQ folders with the numpy fallback even where GPTQModel/AutoAWQ import")
    a = ap.parse_args()
    import torch
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    versions = {}
    for p in ("torch", "transformers", "bitsandbytes", "compressed-tensors", "safetensors", "numpy", "gptqmodel", "optimum"):
        try:
            versions[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            versions[p] = "not installed"
    versions["python"] = platform.python_version()
    table = models(a.quantlab)
    for mname in a.models.split(","):
        model = table[mname]
        work = os.path.join(a.work, mname)
        os.makedirs(work, exist_ok=True)
        path = os.path.join(a.out, mname + ".json")
        only = [n for n in a.only.split(",") if n]
        old = json.load(open(path)) if only else None
        entries = dict(old["exports"]) if old else {}
        for name, args in model["exports"].items():
            if only and name not in only:
                continue
            folder, cmd = quantize(a.quantlab, model, name, args, work, a.reuse)
            qc = json.load(open(os.path.join(folder, "config.json")))["quantization_config"]
            kind = qc["quant_method"]
            m, loader = load_consumer(folder, kind, torch, transformers, not a.no_gptq_awq_loaders)
            m.eval()
            with torch.no_grad():
                logits = m(torch.tensor([TOKENS])).logits[0].float().numpy()
            extra = {}
            if kind == "bitsandbytes" and qc.get("load_in_8bit"):
                # The int8 matmul's logits are kept (loose check); the tight check is against the
                # weights as bitsandbytes dequantizes them.
                extra["int8_matmul_positions"] = positions_of(logits)
                int8_weights_dequantized(m, torch)
                with torch.no_grad():
                    logits = m(torch.tensor([TOKENS])).logits[0].float().numpy()
                loader += "; positions: Linear8bitLt weights through bitsandbytes' int8_vectorwise_dequant in an f32 Linear"
            rows = positions_of(logits)
            entries[name] = {
                "quantlab_args": args + (["--calib", "<calib>"] + CALIB if any(x in ("gptq", "awq") for x in args) else []),
                "quant_method": kind,
                "loader": loader,
                "model_safetensors_sha256": sha256(os.path.join(folder, "model.safetensors")),
                "positions": rows,
                **extra,
            }
            print(mname, name, loader, file=sys.stderr)
            write_fixture(a, mname, old, only, versions, entries, path)
        write_fixture(a, mname, old, only, versions, entries, path)


def write_fixture(a, mname, old, only, versions, entries, path):
    """Written after every export, so a failure later in the run keeps what was recorded."""
    fixture = {
        "made_by": (old["made_by"] + "; then " if old else "") + "tools/make-consumer-fixtures.py --models " + mname +
                   (" --no-gptq-awq-loaders" if a.no_gptq_awq_loaders else "") + (" --only " + a.only if only else ""),
        "versions": versions,
        "model": mname,
        "tokens": TOKENS,
        "exports": entries,
    }
    with open(path, "w") as f:
        # Number lists on one line keep the file small and its diffs readable.
        text = json.dumps(fixture, indent=1)
        text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
        f.write(text + "\n")


if __name__ == "__main__":
    main()
