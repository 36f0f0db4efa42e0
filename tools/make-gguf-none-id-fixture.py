#!/usr/bin/env python3
"""Writes tests/io/fixtures/none_token_ids.gguf: a tiny llama model (random F32 weights, an
8-token SentencePiece vocabulary) whose special-token keys are those llama.cpp's
llama-convert-llama2c-to-ggml writes, written with llama.cpp's own Python GGUF writer (the PyPI
`gguf` package): tokenizer.ggml.seperator_token_id and padding_token_id hold 0xFFFFFFFF, llama.cpp's
LLAMA_TOKEN_NULL stored as uint32. llama.cpp loads such a file (the id means "none"); quantlab must
too (tests/io/gguf_token_none_test.cpp).

    python3 tools/make-gguf-none-id-fixture.py [--out tests/io/fixtures/none_token_ids.gguf]

Made with gguf 0.19.0 and numpy 2.4.6 (the versions are recorded in the file's general.description).
"""
import argparse
import importlib.metadata
import os

import gguf
import numpy as np

NONE = 0xFFFFFFFF  # llama.cpp's LLAMA_TOKEN_NULL (-1) written with gguf_set_val_u32


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "io", "fixtures", "none_token_ids.gguf"))
    args = ap.parse_args()

    dim, hidden, heads, layers, ctx = 8, 16, 2, 1, 32
    tokens = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "ab"]
    scores = [0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -0.5, -0.7]
    types = [2, 3, 3, 1, 1, 1, 1, 1]  # unknown, control, control, normal...
    rng = np.random.RandomState(7)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    out = gguf.GGUFWriter(args.out, "llama")
    out.add_name("llama")
    out.add_description(f"quantlab fixture: tools/make-gguf-none-id-fixture.py, gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}")
    out.add_context_length(ctx)
    out.add_embedding_length(dim)
    out.add_feed_forward_length(hidden)
    out.add_head_count(heads)
    out.add_head_count_kv(heads)
    out.add_block_count(layers)
    out.add_rope_dimension_count(dim // heads)
    out.add_layer_norm_rms_eps(1e-5)
    out.add_tokenizer_model("llama")
    out.add_token_list(tokens)
    out.add_token_scores(scores)
    out.add_token_types(types)
    out.add_unk_token_id(0)
    out.add_bos_token_id(1)
    out.add_eos_token_id(2)
    out.add_sep_token_id(NONE)
    out.add_pad_token_id(NONE)
    out.add_tensor("token_embd.weight", w(len(tokens), dim))
    out.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    out.add_tensor("output.weight", w(len(tokens), dim))
    for l in range(layers):
        b = f"blk.{l}."
        out.add_tensor(b + "attn_q.weight", w(dim, dim))
        out.add_tensor(b + "attn_k.weight", w(dim, dim))
        out.add_tensor(b + "attn_v.weight", w(dim, dim))
        out.add_tensor(b + "attn_output.weight", w(dim, dim))
        out.add_tensor(b + "attn_norm.weight", np.ones(dim, np.float32))
        out.add_tensor(b + "ffn_gate.weight", w(hidden, dim))
        out.add_tensor(b + "ffn_down.weight", w(dim, hidden))
        out.add_tensor(b + "ffn_up.weight", w(hidden, dim))
        out.add_tensor(b + "ffn_norm.weight", np.ones(dim, np.float32))
    out.write_header_to_file()
    out.write_kv_data_to_file()
    out.write_tensors_to_file()
    out.close()
    print(args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
