#!/usr/bin/env python3
"""Reference fixtures for tests/quant/gguf_quantize_test.cpp, made by llama.cpp itself.

For the real tiny model aidreams260K (llama2.c, converted to GGUF by llama.cpp's own converter --
the file quantlab's io/llama2c_gguf writes byte for byte), this runs llama.cpp's llama-imatrix and
llama-quantize and records, per target type, every tensor's type and the SHA-256 of its bytes, and
the metadata keys in file order. The imatrix llama.cpp made is kept (a few KB) so the test can
quantize with the same importance.

Command (llama.cpp 0c1e570 built as /work/peers/README.md says):
  LLAMA_CPP_BIN=/work/peers/llama.cpp-build/bin tools/make-gguf-quantize-fixtures.py
"""
import hashlib, json, os, subprocess, sys, tempfile
import gguf  # PyPI gguf

BIN = os.environ.get("LLAMA_CPP_BIN", "/work/peers/llama.cpp-build/bin")
ASSETS = os.environ.get("QUANTLAB_ASSETS", os.path.expanduser("~/.cache/quantlab/assets"))
SHARED = os.environ.get("QUANTLAB_SHARED", "/work/shared")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "quant", "fixtures", "gguf_quantize")
MODEL = os.path.join(ASSETS, "derived", "aidreams260K.gguf")
TEXT = os.path.join(SHARED, "data", "wikitext-2-raw", "wiki.test.raw")

PLAIN = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "Q3_K_M", "Q3_K_L", "Q2_K", "Q4_0", "Q4_1", "Q5_0",
         "Q5_1", "IQ4_NL", "IQ4_XS", "F16", "BF16"]
WITH_IMATRIX = ["Q4_K_M", "Q2_K", "Q4_0", "IQ4_XS", "IQ2_XXS", "Q2_K_S"]


def describe(path):
    """Per tensor (file order) its type, plus one SHA-256 over all tensor bytes in that order."""
    r = gguf.GGUFReader(path)
    h = hashlib.sha256()
    for t in r.tensors:
        h.update(bytes(t.data.tobytes()))
    return {"order": [t.name for t in r.tensors], "types": [t.tensor_type.name for t in r.tensors],
            "data_sha256": h.hexdigest(),
            "keys": [f.name for f in r.fields.values() if not f.name.startswith("GGUF.")]}


def main():
    os.makedirs(OUT, exist_ok=True)
    imatrix = os.path.join(OUT, "aidreams260K.imatrix.gguf")
    subprocess.run([f"{BIN}/llama-imatrix", "-m", MODEL, "-f", TEXT, "-c", "128", "--chunks", "8", "-t", "1",
                    "-o", imatrix], check=True, capture_output=True)
    result = {"about": {"command": "tools/make-gguf-quantize-fixtures.py", "model": "derived/aidreams260K.gguf",
                        "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(),
                        "imatrix": "llama-imatrix -c 128 --chunks 8 on wiki.test.raw",
                        "llama_cpp": "0c1e570"}, "plain": {}, "imatrix": {}}
    with tempfile.TemporaryDirectory() as d:
        for group, types, extra in (("plain", PLAIN, []), ("imatrix", WITH_IMATRIX, ["--imatrix", imatrix])):
            for t in types:
                out = os.path.join(d, f"{t}.gguf")
                subprocess.run([f"{BIN}/llama-quantize", *extra, MODEL, out, t, "1"], check=True, capture_output=True)
                desc = describe(out)
                result["order"] = desc.pop("order")
                result["keys_" + group] = desc.pop("keys")
                result[group][t] = desc
    with open(os.path.join(OUT, "llama_quantize_aidreams.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
