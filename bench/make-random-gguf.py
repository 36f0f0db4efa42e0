#!/usr/bin/env python3
"""Writes a Llama-shaped GGUF with random weights, for speed measurements only (the issue's
"random weights are fine for speed"): every engine reads the same bytes, so tokens/s compare
fairly, while the values mean nothing. Made on the machine that measures (a 7B file is 4-14 GB
and never travels or gets committed).

  bench/make-random-gguf.py --shape 7b --type Q4_K_M --out /tmp/llama7b-q4km.gguf

Quantized blocks are random bytes whose f16 scale fields are set to small finite values, so every
dequantized weight is finite (a NaN would not change the speed, but would make any accuracy read
off such a file meaningless in a confusing way). Tensor types follow llama-quantize's mixes where
they matter for speed: Q4_K_M puts Q6_K on output.weight and on attn_v/ffn_down of the layers its
use_more_bits rule picks; Q4_0 puts Q6_K on output.weight, as llama-quantize does.
Needs: numpy and the PyPI package gguf (0.19.0 was used).
"""
import argparse
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("make-random-gguf: needs the PyPI package gguf (pip install gguf==0.19.0)")

SHAPES = {
    # name: (n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab)
    "tiny": (2, 256, 512, 4, 2, 512),
    "1b": (16, 2048, 8192, 32, 8, 32000),
    "7b": (32, 4096, 11008, 32, 32, 32000),
    "8b": (32, 4096, 14336, 32, 8, 32000),
    "70b": (80, 8192, 28672, 64, 8, 32000),
}

# (values per block, bytes per block, byte offsets of f16 scale fields) of each block type.
BLOCKS = {
    "Q4_0": (32, 18, [0]),
    "Q4_1": (32, 20, [0, 2]),
    "Q5_0": (32, 22, [0]),
    "Q8_0": (32, 34, [0]),
    "Q2_K": (256, 84, [80, 82]),
    "Q3_K": (256, 110, [108]),
    "Q4_K": (256, 144, [0, 2]),
    "Q5_K": (256, 176, [0, 2]),
    "Q6_K": (256, 210, [208]),
}

SCALE = np.float16(0.002).view(np.uint16)


def use_more_bits(i, n):  # llama-quantize's rule for the layers that get more bits in _M mixes
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_type(mix, name, layer, n_layer):
    if mix == "F16":
        return "F16"
    if name == "output.weight":
        return "Q8_0" if mix == "Q8_0" else "Q6_K"
    if mix == "Q4_K_M":
        if name.endswith(("attn_v.weight", "ffn_down.weight")) and use_more_bits(layer, n_layer):
            return "Q6_K"
        return "Q4_K"
    return mix


def random_matrix(rng, qtype, rows, cols):
    if qtype == "F16":
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16), None
    per, nbytes, scales = BLOCKS[qtype]
    if cols % per:
        sys.exit(f"make-random-gguf: {cols} columns are not a multiple of {qtype}'s block of {per}")
    blocks = rng.integers(0, 256, size=(rows, cols // per, nbytes), dtype=np.uint8)
    for off in scales:
        blocks[:, :, off:off + 2] = np.frombuffer(SCALE.tobytes(), dtype=np.uint8)
    return blocks.reshape(rows, -1), getattr(gguf.GGMLQuantizationType, qtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    ap.add_argument("--layers", type=int, help="override the layer count (e.g. 4 layers of a 70B)")
    ap.add_argument("--type", default="Q4_0", choices=["F16", "Q4_K_M"] + sorted(BLOCKS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab = SHAPES[a.shape]
    if a.layers:
        n_layer = a.layers
    head_dim = n_embd // n_head
    rng = np.random.default_rng(a.seed)

    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"random-{a.shape}-{a.type}")
    w.add_block_count(n_layer)
    w.add_context_length(4096)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    # A SentencePiece vocabulary of control, byte and filler tokens: enough for llama.cpp to load it.
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"tok{i}" for i in range(n_vocab - len(tokens))]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * (n_vocab - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def add(name, rows, cols, layer=-1):
        data, raw = random_matrix(rng, tensor_type(a.type, name, layer, n_layer), rows, cols)
        if raw is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=raw)  # byte shape: gguf derives the value shape

    def norm(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    embd_type = "Q4_K" if a.type == "Q4_K_M" else a.type
    data, raw = random_matrix(rng, embd_type, n_vocab, n_embd)
    w.add_tensor("token_embd.weight", data, **({} if raw is None else {"raw_dtype": raw}))
    for i in range(n_layer):
        b = f"blk.{i}."
        norm(b + "attn_norm.weight", n_embd)
        add(b + "attn_q.weight", n_head * head_dim, n_embd, i)
        add(b + "attn_k.weight", n_head_kv * head_dim, n_embd, i)
        add(b + "attn_v.weight", n_head_kv * head_dim, n_embd, i)
        add(b + "attn_output.weight", n_embd, n_head * head_dim, i)
        norm(b + "ffn_norm.weight", n_embd)
        add(b + "ffn_gate.weight", n_ff, n_embd, i)
        add(b + "ffn_up.weight", n_ff, n_embd, i)
        add(b + "ffn_down.weight", n_embd, n_ff, i)
    norm("output_norm.weight", n_embd)
    add("output.weight", n_vocab, n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
