#!/usr/bin/env python3
"""Why quantlab's FP4 bytes agree with bitsandbytes' CPU quantize_4bit only ~99 %: bitsandbytes' CPU
and CUDA FP4 quantizers disagree with each other, and quantlab follows CUDA (tests/quant/
bnb_4bit_test.cpp holds it bit-exact to fixtures bitsandbytes 0.50.2 made on an H100).

For the same weights this compares bitsandbytes' quantize_4bit (CPU, and CUDA where a GPU is
there) with CUDA's kQuantizeBlockwise decision tree for FP4 (dQuantizeFP4 of csrc/kernels.cu:
sign bit from x < 0, thresholds 0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667,
0.583333, 0.8333333), written out here in numpy, and counts the codes that differ and why.

    /work/venv-consumers/bin/python tools/bnb-fp4-cpu-vs-cuda.py

Measured (2-core dev box, bitsandbytes 0.50.2, torch 2.15.0 CPU; 884,736 N(0, 0.02) weights with
every 97th scaled by 6, blocks of 64): 0.89 % of the CPU codes differ from the CUDA tree; all but
one are the code of zero: bitsandbytes' CPU path (bucketize between the midpoints of the sorted
code table, where +0 and -0 tie) gives |x/absmax| <= 0.0026 the code 8 (-0) for positive x and 0
for negative x, the reverse of CUDA. Both codes dequantize to 0, so the weights are the same; the
bytes are not. The remaining code sits on a threshold that the CPU computes as a float32 midpoint
(0.5833334) and CUDA writes as the literal 0.583333f. NF4 has no signed zero and agrees.
"""
import argparse

import numpy as np
import torch

import bitsandbytes as bnb
import bitsandbytes.functional as F


def cuda_tree_fp4(w, blocksize):
    x = w.reshape(-1, blocksize)
    absmax = np.abs(x).max(1, keepdims=True)
    s = (x * (np.float32(1) / absmax)).astype(np.float32).ravel()
    a = np.abs(s)
    sign = np.where(s < 0, 8, 0)
    c = np.where(a > 0.29166667, np.where(a > 0.583333, np.where(a > 0.8333333, 3, 2), np.where(a > 0.4166667, 5, 4)),
                 np.where(a > 0.0859375, np.where(a > 0.20833333, 7, 6), np.where(a > 0.00260417, 1, 0))) + sign
    return c.astype(np.uint8), s


def codes_of(packed):
    p = packed.flatten().cpu().numpy()
    c = np.empty(p.size * 2, np.uint8)
    c[0::2], c[1::2] = p >> 4, p & 15
    return c


def report(label, got, want, scaled):
    diff = got != want
    zero_swap = diff & np.isin(got, [0, 8]) & np.isin(want, [0, 8])
    print(f"{label}: {100 * diff.mean():.4f} % of codes differ from CUDA's decision tree; "
          f"{100 * zero_swap.mean():.4f} % are +0/-0 swaps; {int((diff & ~zero_swap).sum())} others"
          + (f" (scaled values {scaled[diff & ~zero_swap][:4]})" if (diff & ~zero_swap).any() else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=576 * 1536)
    ap.add_argument("--blocksize", type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    w = torch.randn(a.n) * 0.02
    w[::97] *= 6  # heavier tails, as real weights have
    want, scaled = cuda_tree_fp4(w.numpy(), a.blocksize)
    print("bitsandbytes", bnb.__version__, "torch", torch.__version__)
    q, _ = F.quantize_4bit(w.clone(), blocksize=a.blocksize, quant_type="fp4")
    cpu = codes_of(q)
    report("CPU  quantize_4bit fp4", cpu, want, scaled)
    nq, _ = F.quantize_4bit(w.clone(), blocksize=a.blocksize, quant_type="nf4")
    if torch.cuda.is_available():
        qc, _ = F.quantize_4bit(w.clone().cuda(), blocksize=a.blocksize, quant_type="fp4")
        gpu = codes_of(qc)
        report("CUDA quantize_4bit fp4", gpu, want, scaled)
        print(f"CPU vs CUDA fp4 codes: {100 * (cpu != gpu).mean():.4f} % differ")
        nqc, _ = F.quantize_4bit(w.clone().cuda(), blocksize=a.blocksize, quant_type="nf4")
        print(f"CPU vs CUDA nf4 codes: {100 * (codes_of(nq) != codes_of(nqc)).mean():.4f} % differ")
    else:
        print("no CUDA device: the CUDA quantizer was not run")


if __name__ == "__main__":
    main()
