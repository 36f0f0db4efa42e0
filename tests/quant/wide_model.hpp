#pragma once
// The synthetic llama model of tools/make-wide-quantize-fixtures.py, made again here bit for bit: 2
// layers, dim 256, 4 heads, FFN 512, vocabulary 512, every row >= 256 wide (so llama-quantize uses
// the K and IQ types themselves, not their fallbacks), F32 weights from a fixed integer hash whose
// values are all exact in float32. Only the tensors and the hyper-parameters the quantization mix
// reads are written (the script's file also carries aidreams260K's vocabulary, which llama-imatrix
// needs to tokenize text and which does not change any quantized byte).
#include "quantlab/io/gguf_writer.hpp"

#include <cmath>
#include <cstring>
#include <tuple>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace quantlab::test {

inline constexpr int64_t kWideDim = 256, kWideLayers = 2, kWideHeads = 4, kWideFf = 512, kWideVocab = 512,
                         kWideCtx = 256;

inline uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Tensor number t (file order), `rows` x `width` (a norm: rows == 0).
inline std::vector<float> wide_weights(uint64_t t, int64_t rows, int64_t width) {
  const int64_t n = rows == 0 ? width : rows * width;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t h = splitmix64((t << 32) | uint64_t(i));
    if (rows == 0) {
      v[size_t(i)] = float(1.0 + (double(h >> 48) - 32768.0) * std::ldexp(1.0, -18));
    } else {
      double x = (double(h >> 40) - 8388608.0) * std::ldexp(1.0, -26 - int((i / width) % 4));
      if ((h & 255) == 0) x *= 8.0;
      v[size_t(i)] = float(x);
    }
  }
  return v;
}

// (name, rows, width) in file order; rows 0 for a norm.
inline std::vector<std::tuple<std::string, int64_t, int64_t>> wide_plan() {
  std::vector<std::tuple<std::string, int64_t, int64_t>> p{{"token_embd.weight", kWideVocab, kWideDim}};
  for (int b = 0; b < kWideLayers; ++b) {
    const std::string s = "blk." + std::to_string(b) + ".";
    p.insert(p.end(), {{s + "attn_norm.weight", 0, kWideDim}, {s + "attn_q.weight", kWideDim, kWideDim},
                       {s + "attn_k.weight", kWideDim, kWideDim}, {s + "attn_v.weight", kWideDim, kWideDim},
                       {s + "attn_output.weight", kWideDim, kWideDim}, {s + "ffn_norm.weight", 0, kWideDim},
                       {s + "ffn_gate.weight", kWideFf, kWideDim}, {s + "ffn_down.weight", kWideDim, kWideFf},
                       {s + "ffn_up.weight", kWideFf, kWideDim}});
  }
  p.insert(p.end(), {{"output_norm.weight", 0, kWideDim}, {"output.weight", kWideVocab, kWideDim}});
  return p;
}

// The model as a GGUF writer (it keeps the bytes); `all_bytes` gets every tensor's bytes in order.
inline GgufWriter wide_model(std::vector<uint8_t>* all_bytes = nullptr) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("general.name", GgufValue::str("quantlab-wide-synthetic"));
  w.set("llama.context_length", GgufValue::u32(uint32_t(kWideCtx)));
  w.set("llama.embedding_length", GgufValue::u32(uint32_t(kWideDim)));
  w.set("llama.block_count", GgufValue::u32(uint32_t(kWideLayers)));
  w.set("llama.feed_forward_length", GgufValue::u32(uint32_t(kWideFf)));
  w.set("llama.attention.head_count", GgufValue::u32(uint32_t(kWideHeads)));
  w.set("llama.attention.head_count_kv", GgufValue::u32(uint32_t(kWideHeads)));
  w.set("llama.rope.dimension_count", GgufValue::u32(uint32_t(kWideDim / kWideHeads)));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  w.set("general.file_type", GgufValue::u32(0));
  uint64_t t = 0;
  for (const auto& [name, rows, width] : wide_plan()) {
    const auto v = wide_weights(t++, rows, width);
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    if (all_bytes) all_bytes->insert(all_bytes->end(), bytes.begin(), bytes.end());
    w.add_tensor(name, rows == 0 ? std::vector<int64_t>{width} : std::vector<int64_t>{width, rows}, FormatId::F32,
                 std::move(bytes));
  }
  return w;
}

}  // namespace quantlab::test
