#!/usr/bin/env python3
"""Loads a GGUF with llama.cpp through the PyPI package llama-cpp-python and reports what it sees.

Usage: tools/check_llama_cpp.py MODEL.gguf [N_TOKENS]
Prints one JSON object: {"n_vocab", "n_embd", "n_ctx_train", "greedy_ids", "greedy_text"} where
the greedy continuation starts from BOS alone (N_TOKENS tokens, default 24, temperature 0).
Exit status 3 when llama_cpp cannot be imported (tests skip on it), 1 when loading fails.
"""
import json
import sys

try:
    import llama_cpp
except ImportError as e:
    print(f"check_llama_cpp.py: needs the PyPI package llama-cpp-python ({e})", file=sys.stderr)
    sys.exit(3)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    try:
        llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=128, n_threads=1, verbose=False, seed=0)
    except Exception as e:  # noqa: BLE001 - any failure to load is the answer
        print(f"check_llama_cpp.py: {sys.argv[1]}: llama.cpp refused it: {e}", file=sys.stderr)
        return 1
    ids = []
    for tok in llm.generate([llm.token_bos()], temp=0.0, top_k=1, reset=True):
        if tok == llm.token_eos() or len(ids) == n:
            break
        ids.append(int(tok))
    text = llm.detokenize(ids).decode("utf-8", errors="replace")
    print(json.dumps({"n_vocab": llm.n_vocab(), "n_embd": llm.n_embd(), "n_ctx_train": llm.metadata.get("llama.context_length"),
                      "greedy_ids": ids, "greedy_text": text}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
