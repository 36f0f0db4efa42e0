#!/usr/bin/env python3
"""Runs two GGUF models through llama.cpp (PyPI llama-cpp-python) on the same tokens and compares them:
a model and its rotation (quantlab rotate) must give the same logits and perplexity.

Usage: tools/check_rotation_llama_cpp.py ORIGINAL.gguf ROTATED.gguf TEXT CTX CHUNKS
Tokenizes TEXT with ORIGINAL's vocabulary (BOS first), cuts CHUNKS chunks of CTX tokens, and for each
model evaluates each chunk from scratch with all logits kept; perplexity scores the second half of
each chunk as llama-perplexity does. Prints one JSON object: {"ppl": [orig, rot], "max_abs_dlogit",
"max_abs_logit", "n_tokens"}. Exit status 3 when llama_cpp cannot be imported (tests skip on it).
"""
import json
import sys

try:
    import llama_cpp
    import numpy as np
except ImportError as e:
    print(f"check_rotation_llama_cpp.py: needs llama-cpp-python and numpy ({e})", file=sys.stderr)
    sys.exit(3)


def chunk_logits(path, chunks, ctx):
    llm = llama_cpp.Llama(model_path=path, n_ctx=ctx, n_batch=ctx, logits_all=True, n_threads=2, verbose=False, seed=0,
                          type_k=0, type_v=0)  # f32 KV cache: the default f16 one would round the two models apart
    out = []
    for toks in chunks:
        llm.reset()
        llm.eval(toks)
        out.append(np.array(llm.scores[: len(toks)], dtype=np.float64))
    return out


def perplexity(logits, chunks):
    nll, n = 0.0, 0
    for lg, toks in zip(logits, chunks):
        first = len(toks) // 2
        for i in range(first, len(toks) - 1):
            row = lg[i]
            m = row.max()
            nll += m + np.log(np.exp(row - m).sum()) - row[toks[i + 1]]
            n += 1
    return float(np.exp(nll / n))


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    orig, rot, text, ctx, n_chunks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    vocab = llama_cpp.Llama(model_path=orig, n_ctx=ctx, vocab_only=True, verbose=False)
    with open(text, "rb") as fh:
        raw = fh.read(ctx * n_chunks * 16)
    toks = vocab.tokenize(raw, add_bos=False)
    bos = vocab.token_bos()
    chunks = [[bos] + toks[c * ctx: (c + 1) * ctx - 1] for c in range(n_chunks)]
    lo, lr = chunk_logits(orig, chunks, ctx), chunk_logits(rot, chunks, ctx)
    d = max(float(np.abs(a - b).max()) for a, b in zip(lo, lr))
    print(json.dumps({"ppl": [perplexity(lo, chunks), perplexity(lr, chunks)], "max_abs_dlogit": d,
                      "max_abs_logit": max(float(np.abs(a).max()) for a in lo), "n_tokens": ctx * n_chunks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
