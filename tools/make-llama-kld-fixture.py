#!/usr/bin/env python3
"""Fixture for tests/eval/llama_kld_file_test.cpp: a base-logits (.kld) file written by llama.cpp's
own llama-perplexity --kl-divergence-base, and llama.cpp's statistics of a quantized model against it.

On the tiny model aidreams260K (converted by llama.cpp's llama-convert-llama2c-to-ggml; quantlab's
converter writes the same bytes), WikiText-2 test, context 32, the first 7 chunks:
  llama-perplexity -m aidreams260K.gguf -f wiki.test.raw -c 32 -b 32 --chunks 7 -t 1 \
      --kl-divergence-base aidreams260K-c32.kld                       (the committed file, ~110 KB)
  llama-quantize aidreams260K.gguf q4_0.gguf Q4_0 1                     (quantlab writes the same bytes)
  llama-perplexity -m q4_0.gguf --kl-divergence-base aidreams260K-c32.kld --kl-divergence -t 1
and the figures that last command prints are recorded in llama_perplexity_kld.json.

Command (llama.cpp vendored by llama-cpp-python 0.3.36, built by tools/build-peers; the aidreams260K
and WikiText-2 files of ../shared):
  source tools/venv && LLAMA_CPP_BIN=../peers/llama.cpp-build/bin tools/make-llama-kld-fixture.py
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("LLAMA_CPP_BIN", REPO.parent / "peers" / "llama.cpp-build" / "bin"))
OUT = REPO / "tests" / "eval" / "fixtures" / "llama_kld"
# llama-perplexity prints its final statistics only over 100 scored tokens or more: 7 chunks of 15.
CTX, CHUNKS, QTYPE = 32, 7, "Q4_0"


def fetch(role):
    r = subprocess.run([sys.executable, str(REPO / "tools" / "fetch-assets"), "--print", role],
                       capture_output=True, text=True, check=True)
    return Path(r.stdout.strip())


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def statistics(log):
    """'Name : value [± error] [%]' lines of llama-perplexity's KLD report -> {name: [value, error]}."""
    stats = {}
    for line in log.splitlines():
        m = re.match(r"^\s*([^:]+?)\s*:\s*(-?[0-9.]+)(?:\s*±\s*([0-9.]+))?\s*%?\s*$", line)
        if m:
            stats[re.sub(r"\s+", " ", m.group(1))] = [float(m.group(2))] + ([float(m.group(3))] if m.group(3) else [])
    return stats


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    text = fetch("wikitext2")
    kld = OUT / f"aidreams260K-c{CTX}.kld"
    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "aidreams260K.gguf"
        run([BIN / "llama-convert-llama2c-to-ggml", "--copy-vocab-from-model", fetch("tiny-tokenizer"),
             "--llama2c-model", fetch("tiny"), "--llama2c-output-model", model])
        run([BIN / "llama-perplexity", "-m", model, "-f", text, "-c", CTX, "-b", CTX, "--chunks", CHUNKS, "-t", 1,
             "--kl-divergence-base", kld])
        quant = Path(d) / "q.gguf"
        run([BIN / "llama-quantize", model, quant, QTYPE, 1])
        log = run([BIN / "llama-perplexity", "-m", quant, "--kl-divergence-base", kld, "--kl-divergence", "-t", 1])
        result = {"about": {"command": "tools/make-llama-kld-fixture.py", "model_sha256": sha256_of(model),
                            "quantized": QTYPE, "quantized_sha256": sha256_of(quant), "kld_file": kld.name,
                            "kld_file_sha256": sha256_of(kld), "ctx": CTX, "chunks": CHUNKS,
                            "text_sha256": sha256_of(text)},
                  "statistics": statistics(log[log.find("====== Perplexity statistics"):])}
    with open(OUT / "llama_perplexity_kld.json", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
