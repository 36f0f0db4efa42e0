#!/usr/bin/env python3
"""Records sentence-transformers' embeddings of 120 texts with the `embed` asset (all-MiniLM-L6-v2),
the reference tests/embed/sentence_encoder_test.cpp holds quantlab's encoder to.

Run (the consumer venv of tools/make-consumer-fixtures.py, plus sentence-transformers):
    /work/venv-consumers/bin/pip install sentence-transformers==6.3.0
    /work/venv-consumers/bin/python tools/make-embedding-fixture.py

Texts: 80 sentences of the `wikipedia-paragraphs` asset, 20 Japanese lines of the `ja-manga-translation`
asset, and 20 written here to reach the tokenizer's and the model's edges (German with umlauts and ß,
accents, an emoji, an empty text, whitespace only, a text longer than max_seq_length so it is
truncated, repeated punctuation, a word longer than WordPiece's 100-character limit).
Each embedding is stored as little-endian float32, base64.
"""
import base64
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "embed", "fixtures", "all-minilm-l6-v2.json")


def asset(role):
    out = subprocess.run([os.path.join(HERE, "fetch-assets"), "--print", role], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def wikipedia_sentences(n):
    text = open(asset("wikipedia-paragraphs"), encoding="utf-8").read()
    out = []
    for paragraph in text.split("\n\n"):
        for s in re.split(r"(?<=[.!?])\s+", paragraph.strip()):
            if 20 <= len(s) <= 400 and s not in out:
                out.append(s)
            if len(out) == n:
                return out
    raise SystemExit("wikipedia-paragraphs: fewer than %d sentences" % n)


def japanese_lines(n):
    out = []
    for line in open(asset("ja-manga-translation"), encoding="utf-8"):
        record = json.loads(line)
        for message in record["input"]:
            if message["role"] != "user":
                continue
            for piece in message["content"].splitlines():
                piece = piece.strip()
                if piece and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", piece) and piece not in out:
                    out.append(piece)
                if len(out) == n:
                    return out
    raise SystemExit("ja-manga-translation: fewer than %d Japanese lines" % n)


CRAFTED = [
    "",
    "   \t  ",
    "Die Straßenbahn fährt über die Brücke, während Müller ein Brötchen isst.",
    "Größere Modelle quantisieren wir mit GPTQ; kleinere bleiben in BF16.",
    "Café, naïve, résumé, coöperate, Ångström, Ærøskøbing.",
    "Quantization shrinks the model 🚀 but the answers drift a little.",
    "!!! ??? ... ,,, ;;; ::: --- ***",
    "a",
    "A",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ and ｄｉｇｉｔｓ １２３",
    "x" * 120 + " is one word longer than WordPiece's limit.",
    "The quick brown fox jumps over the lazy dog. " * 60,
    "unaffable unbelievable untranslatable antidisestablishmentarianism",
    "3.14159 2,718 1e-12 0x1F 42% $19.99 #hashtag @user",
    "def f(x):\n    return x * 2  # doubles x",
    "Line one.\nLine two.\r\nLine three.",
    "東京は日本の首都です。 Tokyo is the capital of Japan.",
    "Привет, мир! Γειά σου Κόσμε! مرحبا بالعالم",
    "[CLS] [SEP] [MASK] [PAD] [UNK] are text here, not control tokens.",
    "  leading and trailing spaces  ",
]


def main():
    from sentence_transformers import SentenceTransformer
    import numpy as np
    import torch

    torch.set_num_threads(2)
    folder = asset("embed")
    texts = wikipedia_sentences(80) + japanese_lines(20) + CRAFTED
    model = SentenceTransformer(folder, device="cpu")
    model.eval()
    embeddings = model.encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    embeddings = embeddings.astype("<f4")
    versions = {p: importlib.metadata.version(p) for p in ("sentence-transformers", "transformers", "torch", "tokenizers")}
    versions["python"] = platform.python_version()
    sha = hashlib.sha256(open(os.path.join(folder, "model.safetensors"), "rb").read()).hexdigest()
    fixture = {
        "made_by": "tools/make-embedding-fixture.py",
        "versions": versions,
        "model": "embed asset (all-MiniLM-L6-v2), model.safetensors sha256 " + sha,
        "max_seq_length": model.max_seq_length,
        "dimension": int(embeddings.shape[1]),
        "texts": texts,
        "tokens": [len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts],
        "embeddings_f32_base64": [base64.b64encode(e.tobytes()).decode("ascii") for e in embeddings],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", OUT, len(texts), "texts", file=sys.stderr)


if __name__ == "__main__":
    main()
