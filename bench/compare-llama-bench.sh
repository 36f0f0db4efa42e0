#!/usr/bin/env bash
# Runs llama.cpp's llama-bench and `quantlab bench` on the same GGUF, same thread count, one after
# the other, and prints pp512 / tg128 tokens/s of both and the ratio quantlab / llama.cpp.
#
# usage: bench/compare-llama-bench.sh MODEL.gguf [THREADS=2] [REPS=3]
# env:   LLAMA_BENCH (default: llama-bench on PATH, else ../peers/llama.cpp-build/bin/llama-bench)
#        QUANTLAB    (default: build/quantlab)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/compare-llama-bench.sh MODEL.gguf [THREADS] [REPS]}
threads=${2:-2}
reps=${3:-3}
llama_bench=${LLAMA_BENCH:-$(command -v llama-bench || echo ../peers/llama.cpp-build/bin/llama-bench)}
quantlab=${QUANTLAB:-build/quantlab}
[ -x "$llama_bench" ] || { echo "llama-bench not found (set LLAMA_BENCH)" >&2; exit 2; }
[ -x "$quantlab" ] || { echo "quantlab not found (set QUANTLAB or run tools/build)" >&2; exit 2; }

lc_json=$("$llama_bench" -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -o json)
ql_json=$("$quantlab" bench --model "$model" --p 512 --n 128 --threads "$threads" --reps "$reps" --json)
python3 - "$lc_json" "$ql_json" "$threads" <<'PY'
import json, sys
lc, ql, threads = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
def lc_rate(test):
    for r in lc:
        if test == "pp512" and r.get("n_prompt") == 512 and r.get("n_gen") == 0: return r["avg_ts"]
        if test == "tg128" and r.get("n_gen") == 128 and r.get("n_prompt") == 0: return r["avg_ts"]
ql_rate = {r["test"]: r["tokens_per_s"] for r in ql["results"]}
out = {"threads": int(threads), "results": []}
for test in ("pp512", "tg128"):
    a, b = lc_rate(test), ql_rate.get(test)
    out["results"].append({"test": test, "llama_cpp_tokens_per_s": a, "quantlab_tokens_per_s": b,
                           "ratio": (b / a) if a and b else None})
    print(f"{test}: llama.cpp {a:9.2f} t/s   quantlab {b:9.2f} t/s   ratio {b / a:.2f}", file=sys.stderr)
print(json.dumps(out))
PY
