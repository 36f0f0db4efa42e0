#!/usr/bin/env python3
"""Independent float64 numpy forward pass of a llama2.c checkpoint (Karpathy's run.c semantics:
RMSNorm eps 1e-5, RoPE on adjacent pairs with base 10000, SwiGLU, tied or separate classifier).
Writes the reference fixture that tests/model checks quantlab's forward pass, greedy decoding and
chunked perplexity against. It also runs the same weights as Hugging Face-style Qwen2 (QKV biases)
and Qwen3 (Q/K RMSNorm) models with rotate_half RoPE on un-permuted Q/K rows, which the GGUF loader
tests rebuild as qwen2/qwen3 GGUF files.

Command that made tests/model/fixtures/aidreams260K_reference.txt:
    python3 tools/llama2c_reference.py ../shared/models/aidreams260K/aidreams260K.bin \
        tests/model/fixtures/aidreams260K_reference.txt
"""
import hashlib
import struct
import sys

import numpy as np


def load(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    data = np.frombuffer(raw[28:], dtype="<f4").astype(np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = data[pos:pos + n].reshape(shape)
        pos += n
        return a

    w = {}
    w["emb"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, n_heads * hs, dim)
    w["wk"] = take(n_layers, n_kv_heads * hs, dim)
    w["wv"] = take(n_layers, n_kv_heads * hs, dim)
    w["wo"] = take(n_layers, dim, n_heads * hs)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)
    w["w2"] = take(n_layers, dim, hidden)
    w["w3"] = take(n_layers, hidden, dim)
    w["rms_final"] = take(dim)
    take(seq_len, hs // 2)
    take(seq_len, hs // 2)
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    assert pos == data.size, "size mismatch"
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
               vocab=vocab, seq_len=seq_len, hs=hs)
    return cfg, w, hashlib.sha256(raw).hexdigest()


def rmsnorm(x, g, eps=1e-5):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rope(x, hs):
    # x: [T, heads, hs]; rotate pairs (2j, 2j+1) by pos * 10000^(-2j/hs)
    T = x.shape[0]
    j = np.arange(hs // 2)
    freq = 10000.0 ** (-(2.0 * j) / hs)
    ang = np.arange(T)[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def forward(cfg, w, tokens):
    """Logits [T, vocab] for every position of `tokens` (causal, no cache)."""
    T, hs, H, Hkv = len(tokens), cfg["hs"], cfg["n_heads"], cfg["n_kv_heads"]
    x = w["emb"][np.array(tokens)]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["n_layers"]):
        xn = rmsnorm(x, w["rms_att"][l])
        q = rope((xn @ w["wq"][l].T).reshape(T, H, hs), hs)
        k = rope((xn @ w["wk"][l].T).reshape(T, Hkv, hs), hs)
        v = (xn @ w["wv"][l].T).reshape(T, Hkv, hs)
        rep = H // Hkv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hs) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, H * hs)
        x = x + o @ w["wo"][l].T
        xn = rmsnorm(x, w["rms_ffn"][l])
        g = xn @ w["w1"][l].T
        h = g / (1.0 + np.exp(-g)) * (xn @ w["w3"][l].T)
        x = x + h @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["cls"].T


def lcg_tokens(n, vocab, seed):
    out, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append(3 + x % (vocab - 3))
    return out


def greedy(cfg, w, prompt, n):
    toks = list(prompt)
    for _ in range(n):
        toks.append(int(np.argmax(forward(cfg, w, toks)[-1])))
    return toks[len(prompt):]


def nll(logits, target):
    m = logits.max()
    return -(logits[target] - m - np.log(np.exp(logits - m).sum()))


def perplexity(cfg, w, tokens, n_ctx, bos=1):
    first, total, total2, count = n_ctx // 2, 0.0, 0.0, 0
    for c in range(len(tokens) // n_ctx):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        chunk[0] = bos
        lg = forward(cfg, w, chunk)
        for j in range(first, n_ctx - 1):
            v = nll(lg[j], chunk[j + 1])
            total += v
            total2 += v * v
            count += 1
    mean = total / count
    var = total2 / count - mean * mean
    se = np.sqrt(var / (count - 1))
    return float(np.exp(mean)), float(se * np.exp(mean))


def to_hf_rows(w, n_heads, hs):
    """llama2.c/GGUF-llama Q/K rows (pairs adjacent) -> Hugging Face rows (halves): inverse of
    llama.cpp's convert permute."""
    return w.reshape(n_heads, hs // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def derived(kind, n):
    """Extra per-architecture weights (HF layout), same definition as tests/model/gguf_model_test.cpp."""
    i = np.arange(n, dtype=np.float64)
    f = {"q_norm": 1 + 0.25 * np.sin(0.37 * i), "k_norm": 1 + 0.25 * np.cos(0.53 * i),
         "q_bias": 0.1 * np.sin(0.11 * i), "k_bias": 0.1 * np.cos(0.07 * i), "v_bias": 0.1 * np.sin(0.05 * i + 1)}[kind]
    return f.astype(np.float32).astype(np.float64)


def rotate_half_rope(x, hs, base=10000.0):
    T = x.shape[0]
    inv = base ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)[:, None, :]
    rot = np.concatenate([-x[..., hs // 2:], x[..., :hs // 2]], -1)
    return x * cos + rot * sin


def forward_hf(cfg, w, tokens, arch):
    """Hugging Face Qwen2 (QKV bias) / Qwen3 (per-head q/k RMSNorm before RoPE) semantics with
    rotate_half RoPE on HF-layout weights derived from the llama2.c checkpoint."""
    T, hs, H, Hkv = len(tokens), cfg["hs"], cfg["n_heads"], cfg["n_kv_heads"]
    x = w["emb"][np.array(tokens)]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["n_layers"]):
        xn = rmsnorm(x, w["rms_att"][l])
        wq, wk = to_hf_rows(w["wq"][l], H, hs), to_hf_rows(w["wk"][l], Hkv, hs)
        q, k, v = xn @ wq.T, xn @ wk.T, xn @ w["wv"][l].T
        if arch == "qwen2":
            q, k, v = q + derived("q_bias", H * hs), k + derived("k_bias", Hkv * hs), v + derived("v_bias", Hkv * hs)
        q, k, v = q.reshape(T, H, hs), k.reshape(T, Hkv, hs), v.reshape(T, Hkv, hs)
        if arch == "qwen3":
            q, k = rmsnorm(q, derived("q_norm", hs)), rmsnorm(k, derived("k_norm", hs))
        q, k = rotate_half_rope(q, hs), rotate_half_rope(k, hs)
        rep = H // Hkv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hs) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, H * hs)
        x = x + o @ w["wo"][l].T
        xn = rmsnorm(x, w["rms_ffn"][l])
        g = xn @ w["w1"][l].T
        x = x + (g / (1.0 + np.exp(-g)) * (xn @ w["w3"][l].T)) @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["cls"].T


PROBE_IDS = [0, 1, 2, 13, 100, 257, 300, 511]


def main():
    model, out_path = sys.argv[1], sys.argv[2]
    cfg, w, sha = load(model)
    tokens = [1] + lcg_tokens(23, cfg["vocab"], 2024)
    logits = forward(cfg, w, tokens)
    greedy_ids = greedy(cfg, w, [1], 40)
    ppl_tokens = [1] + greedy_ids[:31] + lcg_tokens(32, cfg["vocab"], 7)
    ppl, ppl_se = perplexity(cfg, w, ppl_tokens, 16)
    lines = [
        "# Reference outputs of an independent float64 numpy forward pass (tools/llama2c_reference.py).",
        "# command: python3 tools/llama2c_reference.py ../shared/models/aidreams260K/aidreams260K.bin "
        "tests/model/fixtures/aidreams260K_reference.txt",
        f"model_sha256 {sha}",
        "tokens " + " ".join(map(str, tokens)),
        "probe_ids " + " ".join(map(str, PROBE_IDS)),
    ]
    for t in range(len(tokens)):
        lg = logits[t]
        m = lg.max()
        lse = m + np.log(np.exp(lg - m).sum())
        lines.append(f"position {t} argmax {int(np.argmax(lg))} max {lg.max():.9g} lse {lse:.9g} probes " +
                     " ".join(f"{lg[i]:.9g}" for i in PROBE_IDS))
    for arch in ("qwen2", "qwen3"):
        lg_all = forward_hf(cfg, w, tokens[:12], arch)
        for t in range(12):
            lg = lg_all[t]
            m = lg.max()
            lse = m + np.log(np.exp(lg - m).sum())
            lines.append(f"{arch}_position {t} argmax {int(np.argmax(lg))} max {m:.9g} lse {lse:.9g} probes " +
                         " ".join(f"{lg[i]:.9g}" for i in PROBE_IDS))
    lines.append("greedy_prompt 1")
    lines.append("greedy " + " ".join(map(str, greedy_ids)))
    lines.append("ppl_tokens " + " ".join(map(str, ppl_tokens)))
    lines.append(f"ppl_ctx 16 ppl {ppl:.12g} ppl_stderr {ppl_se:.12g}")
    open(out_path, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
