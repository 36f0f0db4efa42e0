#!/usr/bin/env python3
"""Independent dequantizer of a GPTQ ("gptq" v1 checkpoint format) safetensors folder, numpy only.

Reads the layout as AutoGPTQ documents it, without any quantlab code:
  qweight int32 [in*bits/32, out]  input values as an LSB-first bit stream per output column
  qzeros  int32 [groups, out*bits/32]  zero points minus one, LSB-first bit stream along out
  scales  f16   [groups, out]
  g_idx   int32 [in]               group of each input column
  W[o, i] = scales[g_idx[i], o] * (q[i, o] - (z[g_idx[i], o] + 1))

usage: gptq_dequant.py FOLDER MODULE OUT.f32
  MODULE e.g. model.layers.0.self_attn.q_proj; writes W [out, in] as little-endian float32 to OUT.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"I32": np.int32, "F16": np.float16, "F32": np.float32, "U8": np.uint8, "I8": np.int8}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def unpack_bitstream(words, bits, count):
    """words: uint32 [n_words, columns] -> values [count, columns], LSB-first stream per column."""
    w = words.astype(np.uint64)
    # all bits of each column, least significant first
    bit_planes = ((w[:, None, :] >> np.arange(32, dtype=np.uint64)[None, :, None]) & 1).reshape(-1, words.shape[1])
    vals = np.zeros((count, words.shape[1]), dtype=np.int64)
    for b in range(bits):
        vals |= bit_planes[b::bits][:count].astype(np.int64) << b
    return vals


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    folder, module, out = sys.argv[1:]
    config = json.load(open(f"{folder}/config.json"))
    qc = config["quantization_config"]
    if qc.get("quant_method") != "gptq" or qc.get("checkpoint_format", "gptq") != "gptq":
        sys.exit("not a GPTQ v1 folder")
    bits = int(qc["bits"])
    t = read_safetensors(f"{folder}/model.safetensors")
    qweight = t[module + ".qweight"].view(np.uint32)
    qzeros = t[module + ".qzeros"].view(np.uint32)
    scales = t[module + ".scales"].astype(np.float32)
    g_idx = t[module + ".g_idx"].astype(np.int64)
    n_in = g_idx.shape[0]
    n_out = scales.shape[1]
    q = unpack_bitstream(qweight, bits, n_in)                       # [in, out]
    z = unpack_bitstream(qzeros.T, bits, n_out).T + 1               # [groups, out]
    w = scales[g_idx, :] * (q - z[g_idx, :]).astype(np.float32)     # [in, out]
    np.ascontiguousarray(w.T, dtype="<f4").tofile(out)


if __name__ == "__main__":
    main()
