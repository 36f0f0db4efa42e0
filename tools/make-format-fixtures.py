#!/usr/bin/env python3
# Writes the GGUF block-format fixtures of tests/formats/ (tests/formats/fixtures/).
#
# Command that made the committed fixtures:
#   python3 -m pip install gguf==0.19.0 numpy
#   LLAMA_CPP_SRC=/work/peers/llama.cpp-src LLAMA_CPP_BUILD=/work/peers/llama.cpp-build \
#       python3 tools/make-format-fixtures.py
# (llama.cpp = the copy vendored in llama-cpp-python 0.3.36, ggml 0.25.3, built with its CMake
# defaults: ggml-base, which holds the reference quantizers, is compiled without -march flags.)
#
# References:
# - encoded bytes: llama.cpp's ggml_quantize_chunk (what llama-quantize calls), with and without an
#   importance matrix, through tools/ggml-quantize-ref.c; where the PyPI `gguf` package can encode
#   a type too (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, TQ1_0, TQ2_0, MXFP4) the script checks both agree.
# - decoded floats: the PyPI `gguf` package's gguf.quants.dequantize (ggml's to_float for Q8_K,
#   which gguf cannot decode); the script also checks that ggml decodes every fixture identically.
#
# Files (little-endian): input.f32 (ROWS x COLS values), importance.f32 (COLS weights, one per
# column as in an imatrix), <type>.plain.bin / <type>.imatrix.bin (encoded rows), <type>.random.bin
# (random blocks with finite scales) and <type>.random.f32 (their decoding), and manifest.json which
# lists, per type, its ggml id, block size, bytes per block and the SHA-256 of the reference
# decoding of each encoded file.
import hashlib
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "formats" / "fixtures"
ROWS, COLS = 8, 512
SEED = 20261123

# (type, encodable by quantlab, variants encoded by llama.cpp, encoder of ggml to use). Without an
# importance matrix ggml_quantize_chunk refuses IQ2_XXS, IQ2_XS and IQ1_S; Q8_0 and TQ ignore one
# (kept to prove quantlab ignores it too).
BOTH, WEIGHTED, PLAIN = ("plain", "imatrix"), ("imatrix",), ("plain",)
TYPES = [
    (T.Q4_0, True, BOTH, "chunk"), (T.Q4_1, True, BOTH, "chunk"), (T.Q5_0, True, BOTH, "chunk"),
    (T.Q5_1, True, BOTH, "chunk"), (T.Q8_0, True, BOTH, "chunk"), (T.Q8_1, True, PLAIN, "ref"),
    (T.Q2_K, True, BOTH, "chunk"), (T.Q3_K, True, BOTH, "chunk"), (T.Q4_K, True, BOTH, "chunk"),
    (T.Q5_K, True, BOTH, "chunk"), (T.Q6_K, True, BOTH, "chunk"), (T.Q8_K, True, PLAIN, "ref"),
    (T.IQ4_NL, True, BOTH, "chunk"), (T.IQ4_XS, True, BOTH, "chunk"),
    (T.TQ1_0, True, PLAIN, "chunk"), (T.TQ2_0, True, PLAIN, "chunk"), (T.MXFP4, True, PLAIN, "chunk"),
    (T.IQ2_XXS, True, WEIGHTED, "chunk"), (T.IQ2_XS, True, WEIGHTED, "chunk"), (T.IQ2_S, True, BOTH, "chunk"),
    (T.IQ3_XXS, True, BOTH, "chunk"), (T.IQ3_S, True, BOTH, "chunk"),
    (T.IQ1_S, True, WEIGHTED, "chunk"), (T.IQ1_M, True, BOTH, "chunk"),
]
GGUF_CAN_ENCODE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.TQ1_0, T.TQ2_0, T.MXFP4}
GGUF_CANNOT_DECODE = {T.Q8_1, T.Q8_K}
# Byte offsets of the f16 scales inside a block; random blocks get finite values there.
F16_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q2_K: [80, 82],
    T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_NL: [0], T.IQ4_XS: [0],
    T.TQ1_0: [52], T.TQ2_0: [64], T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0],
    T.IQ3_S: [0], T.IQ1_S: [0],
    T.MXFP4: [],  # every E8M0 byte is a finite scale
}


def name(t: T) -> str:
    # ggml's type names: q4_K, iq2_xxs, ...
    return t.name.lower().replace("_k", "_K")


def make_input(rng: np.random.Generator) -> np.ndarray:
    x = np.zeros((ROWS, COLS), dtype=np.float32)
    x[0] = rng.standard_normal(COLS)
    x[1] = 0.02 * rng.standard_normal(COLS)  # weight-like, with a few large outliers
    x[1, rng.choice(COLS, 6, replace=False)] *= 60
    x[2] = 0  # all zero
    x[3] = 0.75  # all equal
    x[4] = -np.abs(rng.standard_normal(COLS)) - 0.1  # negative only
    x[5, :256] = 1e-6 * rng.standard_normal(256)  # scales far apart between super-blocks
    x[5, 256:] = 100 * rng.standard_normal(256)
    x[6] = rng.laplace(size=COLS)  # heavy tails
    x[7] = np.where(rng.random(COLS) < 0.8, 0, rng.standard_normal(COLS))  # sparse, with zero blocks
    x[7, :64] = 0
    return x.astype(np.float32)


def make_importance(rng: np.random.Generator) -> np.ndarray:
    w = np.exp(rng.standard_normal(COLS)).astype(np.float32)
    w[rng.choice(COLS, 20, replace=False)] = 0  # dead columns
    return w


def random_blocks(rng: np.random.Generator, t: T, n_values: int) -> bytes:
    block_size, type_size = gguf.GGML_QUANT_SIZES[t]
    blocks = rng.integers(0, 256, size=(n_values // block_size, type_size), dtype=np.uint8)

    def finite_f16(count):
        bits = rng.integers(0, 0x10000, size=count, dtype=np.uint32)
        bad = (bits & 0x7C00) == 0x7C00
        bits[bad] &= 0xBFFF  # drop the top exponent bit: finite (and still random)
        return bits.astype(np.uint16)

    if t == T.IQ1_M:
        # The f16 scale is spread over the top nibbles of the four uint16 scale words.
        scales = blocks[:, 48:56].copy().view(np.uint16)
        d = finite_f16(len(blocks))
        for k in range(4):
            scales[:, k] = (scales[:, k] & 0x0FFF) | (((d >> (4 * k)) & 0xF) << 12)
        blocks[:, 48:56] = scales.view(np.uint8)
    else:
        for off in F16_OFFSETS[t]:
            blocks[:, off:off + 2] = finite_f16(len(blocks)).view(np.uint8).reshape(-1, 2)
    return blocks.tobytes()


class Ggml:
    def __init__(self) -> None:
        src = pathlib.Path(os.environ.get("LLAMA_CPP_SRC", "/work/peers/llama.cpp-src"))
        build = pathlib.Path(os.environ.get("LLAMA_CPP_BUILD", "/work/peers/llama.cpp-build"))
        lib = build / "ggml" / "src" / "libggml-base.a"
        if not lib.exists():
            sys.exit(f"llama.cpp build not found: {lib} (set LLAMA_CPP_BUILD)")
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="quantlab-fixtures-"))
        self.exe = self.tmp / "ggml-quantize-ref"
        subprocess.run(["cc", "-O2", "-no-pie", "-I", str(src / "ggml" / "include"),
                        str(ROOT / "tools" / "ggml-quantize-ref.c"), str(lib),
                        "-lstdc++", "-lm", "-lpthread", "-fopenmp", "-o", str(self.exe)], check=True)

    def run(self, *args) -> str:
        return subprocess.run([str(self.exe), *map(str, args)], check=True, capture_output=True, text=True).stdout

    def traits(self, t: T) -> tuple[int, int]:
        block, size = self.run("traits", int(t)).split()
        return int(block), int(size)

    def quantize(self, t: T, x: np.ndarray, importance: np.ndarray | None, how: str) -> bytes:
        src, dst, imat = self.tmp / "in.f32", self.tmp / "out.bin", self.tmp / "imatrix.f32"
        x.astype(np.float32).tofile(src)
        if how == "ref":
            self.run("quantize_ref", int(t), x.size, src, dst)
        else:
            if importance is not None:
                importance.astype(np.float32).tofile(imat)
            self.run("quantize", int(t), x.shape[1], x.shape[0], src, imat if importance is not None else "-", dst)
        return dst.read_bytes()

    def dequantize(self, t: T, data: bytes, n: int) -> np.ndarray:
        src, dst = self.tmp / "in.bin", self.tmp / "out.f32"
        src.write_bytes(data)
        self.run("dequantize", int(t), n, src, dst)
        return np.fromfile(dst, dtype=np.float32)


def gguf_dequantize(t: T, data: bytes, n: int) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8).reshape(1, -1)
    return np.asarray(quants.dequantize(raw, t), dtype=np.float32).reshape(-1)[:n]


def main() -> None:
    rng = np.random.default_rng(SEED)
    x = make_input(rng)
    importance = make_importance(rng)
    ggml = Ggml()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    x.tofile(OUT / "input.f32")
    importance.tofile(OUT / "importance.f32")

    manifest = {
        "generator": "tools/make-format-fixtures.py",
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "llama_cpp": "llama-cpp-python 0.3.36 vendored llama.cpp (ggml 0.25.3)",
        "rows": ROWS, "cols": COLS, "types": {},
    }
    for t, encodable, variant_names, how in TYPES:
        block_size, type_size = ggml.traits(t)
        entry = {"id": int(t), "block_size": block_size, "type_size": type_size,
                 "quantlab_encodes": encodable, "encoded": []}
        variants = [(label, importance if label == "imatrix" else None) for label in variant_names]
        for label, imp in variants:
            data = ggml.quantize(t, x, imp, how)
            assert len(data) == ROWS * COLS // block_size * type_size
            if imp is None and t in GGUF_CAN_ENCODE:
                ours = quants.quantize(x, t).tobytes()
                assert ours == data, f"gguf and llama.cpp disagree on {t.name}"
            file = f"{name(t)}.{label}.bin"
            (OUT / file).write_bytes(data)
            item = {"file": file, "importance": imp is not None,
                    "gguf_encoder_agrees": (imp is None and t in GGUF_CAN_ENCODE)}
            if t != T.Q8_1:
                ref = ggml.dequantize(t, data, x.size)
                if t not in GGUF_CANNOT_DECODE:
                    deq = gguf_dequantize(t, data, x.size)
                    assert deq.tobytes() == ref.tobytes(), f"gguf and ggml decode {t.name} differently"
                    ref = deq
                item["dequant_sha256"] = hashlib.sha256(ref.tobytes()).hexdigest()
                item["dequant_source"] = "ggml to_float" if t in GGUF_CANNOT_DECODE else "gguf.quants.dequantize"
            entry["encoded"].append(item)
        if t not in GGUF_CANNOT_DECODE:
            n = 2 * 256 if block_size == 256 else 16 * block_size
            data = random_blocks(rng, t, n)
            deq = gguf_dequantize(t, data, n)
            ggml_deq = ggml.dequantize(t, data, n)
            assert deq.tobytes() == ggml_deq.tobytes(), f"gguf and ggml decode random {t.name} blocks differently"
            (OUT / f"{name(t)}.random.bin").write_bytes(data)
            deq.tofile(OUT / f"{name(t)}.random.f32")
            entry["random"] = {"bytes": f"{name(t)}.random.bin", "dequant": f"{name(t)}.random.f32", "values": n}
        manifest["types"][name(t)] = entry
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
