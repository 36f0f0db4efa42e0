#!/usr/bin/env python3
"""Reference fixtures for tests/quant/wide_quantize_test.cpp: llama-quantize on a model whose rows
are all >= 256 wide, so that every K and IQ type is really used (the tiny model's 64-wide rows make
llama.cpp fall back to Q5_0/Q8_0/F16 for all of them).

The model is synthetic and never stored: a llama GGUF with 2 layers, dim 256, 4 heads, FFN 512 and the
512-token vocabulary of aidreams260K (llama-imatrix has to tokenize text), whose F32 weights come
from a fixed integer hash that tests/quant/wide_model.hpp computes exactly the same way:
  h(t, i) = splitmix64((t << 32) | i)   t: tensor number in file order, i: element index (row-major)
  matrix:  ((h >> 40) - 2^23) * 2^-26 * 2^-(row % 4), times 8 when (h & 255) == 0   (outliers)
  norm:    1 + ((h >> 48) - 2^15) * 2^-18
(every value is exact in float32, so numpy and C++ make the same bits). The fixture records the SHA-256
of those tensor bytes, llama-imatrix's importance matrix of the model (a few KB, kept for the test),
and per target type every tensor's type and one SHA-256 over all quantized tensor bytes.

Command (llama.cpp vendored by llama-cpp-python 0.3.36, built by tools/build-peers; gguf 0.19.0 and
numpy 2.4.6 of tools/requirements.txt; the aidreams260K files of ../shared):
  source tools/venv && LLAMA_CPP_BIN=../peers/llama.cpp-build/bin tools/make-wide-quantize-fixtures.py
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import gguf
import numpy as np

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("LLAMA_CPP_BIN", REPO.parent / "peers" / "llama.cpp-build" / "bin"))
OUT = REPO / "tests" / "quant" / "fixtures" / "wide_quantize"

DIM, N_LAYER, N_HEAD, N_FF, CTX = 256, 2, 4, 512, 256
PLAIN = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0",
         "Q4_0", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"]
# IQ1/IQ2 (and Q2_K_S) need an importance matrix in llama-quantize.
WITH_IMATRIX = ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
                "Q2_K_S", "Q3_K_M", "Q4_K_M", "IQ4_XS"]


def fetch(role):
    r = subprocess.run([sys.executable, str(REPO / "tools" / "fetch-assets"), "--print", role],
                       capture_output=True, text=True, check=True)
    return Path(r.stdout.strip())


def splitmix64(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def weights(t, shape):
    """shape in numpy order (rows, row width) or (width,) for a norm."""
    n = int(np.prod(shape))
    h = splitmix64((np.uint64(t) << np.uint64(32)) | np.arange(n, dtype=np.uint64))
    if len(shape) == 1:
        return (1.0 + ((h >> np.uint64(48)).astype(np.float64) - 2.0**15) * 2.0**-18).astype(np.float32)
    rows = np.arange(n, dtype=np.int64) // shape[1]
    v = ((h >> np.uint64(40)).astype(np.float64) - 2.0**23) * 2.0**-26 * np.exp2(-(rows % 4).astype(np.float64))
    v = np.where((h & np.uint64(255)) == 0, v * 8.0, v)
    return v.astype(np.float32).reshape(shape)


def tensor_plan(n_vocab):
    """(name, numpy shape) in file order."""
    plan = [("token_embd.weight", (n_vocab, DIM))]
    for b in range(N_LAYER):
        p = f"blk.{b}."
        plan += [(p + "attn_norm.weight", (DIM,)), (p + "attn_q.weight", (DIM, DIM)), (p + "attn_k.weight", (DIM, DIM)),
                 (p + "attn_v.weight", (DIM, DIM)), (p + "attn_output.weight", (DIM, DIM)), (p + "ffn_norm.weight", (DIM,)),
                 (p + "ffn_gate.weight", (N_FF, DIM)), (p + "ffn_down.weight", (DIM, N_FF)), (p + "ffn_up.weight", (N_FF, DIM))]
    plan += [("output_norm.weight", (DIM,)), ("output.weight", (n_vocab, DIM))]
    return plan


def convert_aidreams(tmp):
    """llama.cpp's own llama2.c converter: the vocabulary the synthetic model borrows."""
    out = tmp / "aidreams260K.gguf"
    subprocess.run([BIN / "llama-convert-llama2c-to-ggml", "--copy-vocab-from-model", fetch("tiny-tokenizer"),
                    "--llama2c-model", fetch("tiny"), "--llama2c-output-model", out], check=True, capture_output=True)
    return gguf.GGUFReader(str(out))


def write_model(path, vocab):
    tokens = [bytes(vocab.fields["tokenizer.ggml.tokens"].parts[i]).decode()
              for i in vocab.fields["tokenizer.ggml.tokens"].data]
    scores = [float(vocab.fields["tokenizer.ggml.scores"].parts[i][0]) for i in vocab.fields["tokenizer.ggml.scores"].data]
    ttypes = [int(vocab.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in vocab.fields["tokenizer.ggml.token_type"].data]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("quantlab-wide-synthetic")
    w.add_context_length(CTX)
    w.add_embedding_length(DIM)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(DIM // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(ttypes)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    h = hashlib.sha256()
    for t, (name, shape) in enumerate(tensor_plan(len(tokens))):
        a = weights(t, shape)
        h.update(a.tobytes())
        w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return h.hexdigest(), len(tokens)


def describe(path):
    r = gguf.GGUFReader(str(path))
    h = hashlib.sha256()
    for t in r.tensors:
        h.update(bytes(t.data.tobytes()))
    return [t.name for t in r.tensors], {"types": [t.tensor_type.name for t in r.tensors], "data_sha256": h.hexdigest()}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    text = fetch("wikitext2")
    imatrix = OUT / "wide.imatrix.gguf"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = tmp / "wide.gguf"
        data_sha, n_vocab = write_model(model, convert_aidreams(tmp))
        subprocess.run([BIN / "llama-imatrix", "-m", model, "-f", text, "-c", "128", "--chunks", "4", "-t", "1",
                        "-o", imatrix], check=True, capture_output=True)
        # The sdist's llama.cpp carries no git metadata: the pinned package names the commit.
        result = {"about": {"command": "tools/make-wide-quantize-fixtures.py",
                            "llama_cpp": "llama-cpp-python 0.3.36",
                            "model": {"dim": DIM, "n_layer": N_LAYER, "n_head": N_HEAD, "n_ff": N_FF, "n_vocab": n_vocab,
                                      "context_length": CTX, "tensor_data_sha256": data_sha},
                            "imatrix": "llama-imatrix -c 128 --chunks 4 -t 1 on wiki.test.raw",
                            "quantize": "llama-quantize [--imatrix wide.imatrix.gguf] wide.gguf OUT TYPE 1"},
                  "plain": {}, "imatrix": {}}
        for group, types, extra in (("plain", PLAIN, []), ("imatrix", WITH_IMATRIX, ["--imatrix", imatrix])):
            for t in types:
                out = tmp / f"{t}.gguf"
                subprocess.run([BIN / "llama-quantize", *extra, model, out, t, "1"], check=True, capture_output=True)
                result["order"], result[group][t] = describe(out)
    with open(OUT / "llama_quantize_wide.json", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
