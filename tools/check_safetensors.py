#!/usr/bin/env python3
"""Independent reading of safetensors files with the PyPI `safetensors` package (the reference
Rust implementation), and writing reference files with it.

  tools/check_safetensors.py describe FILE   -> one JSON object: {"metadata": {...}, "tensors":
      [{"name", "dtype", "shape", "sha256"}]} (sorted by name); exit 1 if the file is rejected.
  tools/check_safetensors.py make FILE       -> writes a small file with safetensors.numpy
      (F32, F16, I64, U8, BOOL, a scalar, an empty tensor, metadata) for quantlab's reader to read.
Exit status 3 when the package is absent (tests skip on it).
"""
import hashlib
import json
import sys

try:
    import numpy as np
    import safetensors
    import safetensors.numpy
except ImportError as e:
    print(f"check_safetensors.py: needs the PyPI packages safetensors and numpy ({e})", file=sys.stderr)
    sys.exit(3)


def describe(path):
    with open(path, "rb") as f:
        raw = f.read()
    tensors = []
    for name, t in safetensors.deserialize(raw):  # the Rust validator: offsets, sizes, dtypes
        tensors.append({"name": name, "dtype": t["dtype"].upper(), "shape": list(t["shape"]),
                        "sha256": hashlib.sha256(bytes(t["data"])).hexdigest()})
    with safetensors.safe_open(path, framework="np") as f:
        metadata = f.metadata() or {}
    return {"metadata": metadata, "tensors": sorted(tensors, key=lambda t: t["name"])}


def make(path):
    arrays = {
        "model.embed.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 8,
        "model.norm.weight": np.array([1.5, -2.0, 0.25], dtype=np.float16),
        "ids": np.array([[1, -2], [3, 1 << 40]], dtype=np.int64),
        "bytes": np.array([0, 7, 255], dtype=np.uint8),
        "mask": np.array([True, False, True, True]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    safetensors.numpy.save_file(arrays, path, metadata={"format": "np", "note": "made by check_safetensors.py"})


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("describe", "make"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "make":
        make(sys.argv[2])
        return 0
    try:
        print(json.dumps(describe(sys.argv[2])))
    except Exception as e:  # noqa: BLE001 - any rejection is the answer
        print(f"check_safetensors.py: {sys.argv[2]}: rejected: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
