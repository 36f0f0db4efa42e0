#!/usr/bin/env python3
# Compares quantlab's GGUF encoders and decoders with llama.cpp and the PyPI gguf package on much
# more data than the committed fixtures (several distributions, exact ties, dead importance
# columns). Not part of ctest: it needs a llama.cpp build. Exits non-zero on any difference.
#
#   python3 -m pip install gguf numpy
#   cmake --build build --target quantlab_lib
#   LLAMA_CPP_SRC=/work/peers/llama.cpp-src LLAMA_CPP_BUILD=/work/peers/llama.cpp-build \
#       python3 tools/compare-formats-with-llama-cpp.py [--build build] [--seeds 3] [--rows 300]
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

ROOT = pathlib.Path(__file__).resolve().parent.parent
TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.IQ4_NL, T.IQ4_XS,
         T.TQ1_0, T.TQ2_0, T.IQ3_XXS, T.IQ3_S, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ1_S, T.IQ1_M, T.MXFP4]
# llama.cpp refuses these without an importance matrix.
WEIGHTED_ONLY = {T.IQ2_XXS, T.IQ2_XS, T.IQ1_S}


def name(t: T) -> str:
    return t.name.lower().replace("_k", "_K")


def make_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    x = np.empty((rows, cols), np.float32)
    for r in range(rows):
        kind = r % 6
        if kind == 0:
            x[r] = 0.03 * rng.standard_normal(cols)
        elif kind == 1:
            x[r] = 0.01 * rng.laplace(size=cols)
        elif kind == 2:
            x[r] = 0.02 * rng.standard_t(3, size=cols)
        elif kind == 3:
            x[r] = np.round(4 * rng.standard_normal(cols)) / 8  # many exact ties
        elif kind == 4:
            x[r] = rng.uniform(-1, 1, cols) ** 3
        else:
            x[r] = rng.standard_normal(cols) * np.exp(rng.standard_normal(cols))
    return x


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="quantlab build directory (holds libquantlab.a)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--cols", type=int, default=2048)
    args = ap.parse_args()

    src = pathlib.Path(os.environ.get("LLAMA_CPP_SRC", "/work/peers/llama.cpp-src"))
    build = pathlib.Path(os.environ.get("LLAMA_CPP_BUILD", "/work/peers/llama.cpp-build"))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="quantlab-compare-"))
    ref, ours = tmp / "ggml-quantize-ref", tmp / "format-driver"
    subprocess.run(["cc", "-O2", "-no-pie", "-I", str(src / "ggml" / "include"), str(ROOT / "tools" / "ggml-quantize-ref.c"),
                    str(build / "ggml" / "src" / "libggml-base.a"), "-lstdc++", "-lm", "-lpthread", "-fopenmp",
                    "-o", str(ref)], check=True)
    subprocess.run(["g++", "-std=c++20", "-O2", "-I", str(ROOT / "include"), str(ROOT / "tools" / "format-driver.cpp"),
                    str(ROOT / args.build / "libquantlab.a"), "-o", str(ours)], check=True)

    def run(*cmd):
        subprocess.run([str(c) for c in cmd], check=True)

    failures = 0
    for seed in range(1, args.seeds + 1):
        rng = np.random.default_rng(seed)
        x = make_rows(rng, args.rows, args.cols)
        importance = (np.exp(2 * rng.standard_normal(args.cols)) * (rng.random(args.cols) > 0.02)).astype(np.float32)
        x.tofile(tmp / "in.f32")
        importance.tofile(tmp / "imatrix.f32")
        for t in TYPES:
            for imat in ([tmp / "imatrix.f32"] if t in WEIGHTED_ONLY else ["-", tmp / "imatrix.f32"]):
                run(ref, "quantize", int(t), args.cols, args.rows, tmp / "in.f32", imat, tmp / "ref.bin")
                expected = np.fromfile(tmp / "ref.bin", np.uint8)
                label = f"seed {seed} {name(t):8s} imatrix={'no ' if imat == '-' else 'yes'}"
                run(ours, "quantize", name(t), args.cols, args.rows, tmp / "in.f32", imat, tmp / "ours.bin")
                got = np.fromfile(tmp / "ours.bin", np.uint8)
                bad_rows = sorted(set((np.flatnonzero(got != expected) // (len(expected) // args.rows)).tolist()))
                print(f"{label} encode: {'identical' if not bad_rows else f'DIFFERENT in rows {bad_rows[:8]}'}")
                failures += bool(bad_rows)
                run(ours, "dequantize", name(t), x.size, tmp / "ref.bin", tmp / "ours.f32")
                decoded = np.fromfile(tmp / "ours.f32", np.float32)
                reference = np.asarray(quants.dequantize(expected.reshape(args.rows, -1), t), np.float32).reshape(-1)
                same = decoded.tobytes() == reference.tobytes()
                print(f"{label} decode: {'identical' if same else 'DIFFERENT'}")
                failures += not same
    print(f"{failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
