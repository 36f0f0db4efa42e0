#!/usr/bin/env python3
"""Independent reading of a GGUF file with the PyPI `gguf` package (llama.cpp's own Python reader).

Usage: tools/check_gguf.py FILE [FILE...]
Prints one JSON object per file: {"file", "version", "alignment", "data_offset",
"metadata": [{"key", "types", "items", "sha256", "value"}], "tensors": [{"name", "ne", "type",
"n_bytes", "data_offset", "sha256"}]}. `sha256` of a metadata entry is over the value's raw bytes
as stored in the file (after the type field); of a tensor, over its data bytes. quantlab's tests
compare this with what quantlab's own reader sees, so the two readers check each other.
Exit status 3 when the `gguf` package is absent (tests skip on it), 1 when the file is rejected.
"""
import hashlib
import json
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:  # the test skips with this message
    print(f"check_gguf.py: needs the PyPI packages gguf and numpy ({e})", file=sys.stderr)
    sys.exit(3)


def scalar(field, vtype):
    part = field.parts[field.data[0]]
    if vtype == gguf.GGUFValueType.STRING:
        return part.tobytes().decode("utf-8", errors="replace")
    v = part[0]
    if vtype == gguf.GGUFValueType.BOOL:
        return bool(v)
    if vtype in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
        return float(v)
    return int(v)


def describe(path):
    r = gguf.GGUFReader(path)
    out = {"file": path, "alignment": int(r.alignment), "data_offset": int(r.data_offset),
           "metadata": [], "tensors": []}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            if name == "GGUF.version":
                out["version"] = int(field.parts[field.data[0]][0])
            continue
        # parts: key length, key bytes, value type, then the value's own parts.
        raw = b"".join(p.tobytes() for p in field.parts[3:])
        types = [int(t) for t in field.types]
        entry = {"key": name, "types": types, "items": len(field.data),
                 "sha256": hashlib.sha256(raw).hexdigest()}
        if field.types[0] != gguf.GGUFValueType.ARRAY:
            entry["value"] = scalar(field, field.types[0])
        out["metadata"].append(entry)
    for t in r.tensors:
        data = np.ascontiguousarray(t.data).tobytes()
        out["tensors"].append({"name": t.name, "ne": [int(d) for d in t.shape], "type": int(t.tensor_type),
                               "n_bytes": int(t.n_bytes), "data_offset": int(t.data_offset),
                               "sha256": hashlib.sha256(data).hexdigest()})
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for path in sys.argv[1:]:
        try:
            print(json.dumps(describe(path)))
        except Exception as e:  # noqa: BLE001 - any rejection is the answer
            print(f"check_gguf.py: {path}: rejected: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
