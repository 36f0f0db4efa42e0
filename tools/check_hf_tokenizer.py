#!/usr/bin/env python3
"""Independent check of a tokenizer.json quantlab wrote: Hugging Face `tokenizers` loads it and must
give the expected ids (computed by quantlab from the source vocabulary) for every text.

  tools/check_hf_tokenizer.py TOKENIZER_JSON EXPECTED_JSON
EXPECTED_JSON: [{"text": ..., "ids": [...]}, ...], ids without BOS/EOS, special tokens parsed.
Prints "ok N" or each mismatch; exit 0 only when all match."""
import json, sys

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
cases = json.load(open(sys.argv[2], encoding="utf-8"))
bad = 0
for c in cases:
    got = tok.encode(c["text"], add_special_tokens=False).ids
    if got != c["ids"]:
        bad += 1
        if bad <= 5:
            print(f"mismatch for {c['text'][:60]!r}:\n  expected {c['ids'][:20]}\n  got      {got[:20]}")
print(f"ok {len(cases) - bad} of {len(cases)}")
sys.exit(1 if bad else 0)
