#pragma once
// Weights the architecture tests derive from the aidreams260K checkpoint: its matrices as f32,
// Q/K rows in Hugging Face order, and the extra Qwen2/Qwen3 tensors, defined exactly as derived()
// in tools/llama2c_reference.py.
#include "quantlab/backend/matmul.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace quantlab::test {

inline std::vector<float> floats(const WeightMatrix& w) {
  const auto* p = static_cast<const float*>(w.data);
  return std::vector<float>(p, p + w.rows * w.cols);
}

// Rows of a llama2.c/GGUF-llama Q or K matrix (pairs adjacent) in Hugging Face order (halves).
inline std::vector<float> to_hf_rows(const std::vector<float>& w, int64_t n_heads, int64_t hd, int64_t cols) {
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < hd / 2; ++j)
      for (int64_t s = 0; s < 2; ++s)
        std::memcpy(&out[size_t((h * hd + s * hd / 2 + j) * cols)], &w[size_t((h * hd + 2 * j + s) * cols)],
                    size_t(cols) * sizeof(float));
  return out;
}

// Same definitions as derived() in tools/llama2c_reference.py.
inline std::vector<float> derived(const std::string& kind, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = double(i);
    double f = 0;
    if (kind == "q_norm") f = 1 + 0.25 * std::sin(0.37 * x);
    if (kind == "k_norm") f = 1 + 0.25 * std::cos(0.53 * x);
    if (kind == "q_bias") f = 0.1 * std::sin(0.11 * x);
    if (kind == "k_bias") f = 0.1 * std::cos(0.07 * x);
    if (kind == "v_bias") f = 0.1 * std::sin(0.05 * x + 1);
    v[size_t(i)] = float(f);
  }
  return v;
}

}  // namespace quantlab::test
