#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"

#include "quantlab/core/half.hpp"
#include "src/backend/cpu/kernel_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>


namespace quantlab {

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
  const float mean = float(sum / double(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  if (weight) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i] * scale;  // rounded before the weight, as ggml's separate norm and mul
      y[i] = v * weight[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void rope_angles(const RopeParams& p, int64_t pos, float* cos_out, float* sin_out) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
  float theta = float(pos);
  for (int64_t i = 0; i < p.n_rot / 2; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float angle = p.freq_scale * (theta / ff);
    cos_out[i] = std::cos(angle);
    sin_out[i] = std::sin(angle);
    theta *= theta_scale;
  }
}

void rope_apply(const RopeParams& p, const float* cos_v, const float* sin_v, float* x, int64_t n_heads, int64_t head_dim) {
  const int64_t half = p.n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = p.style == RopeStyle::Normal ? 2 * i : i;
      const int64_t b = p.style == RopeStyle::Normal ? 2 * i + 1 : i + half;
      const float x0 = v[a], x1 = v[b];
      // The first product fused, the second rounded: what GCC makes of ggml's
      // x0*cos - x1*sin with FMA allowed (and of this code before contraction was turned off).
      v[a] = std::fma(x0, cos_v[i], -(x1 * sin_v[i]));
      v[b] = std::fma(x0, sin_v[i], x1 * cos_v[i]);
    }
  }
}

void softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

namespace {

// GELU (tanh approximation) of every f16 value, rounded to f16: ggml's ggml_table_gelu_f16.
const std::vector<uint16_t>& gelu_f16_table() {
  static const std::vector<uint16_t> table = [] {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    std::vector<uint16_t> t(1u << 16);
    for (uint32_t i = 0; i < (1u << 16); ++i) {
      const float x = fp16_to_f32(uint16_t(i));
      // 1 + a*x*x with the last product fused, as GCC contracts ggml's expression.
      t[i] = f32_to_fp16(0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * std::fma(kCoefA * x, x, 1.0f))));
    }
    return t;
  }();
  return table;
}

}  // namespace

void geglu(const float* gate, const float* up, float* out, int64_t n) {
  const std::vector<uint16_t>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    float v;
    if (g <= -10.0f) v = 0.0f;
    else if (g >= 10.0f) v = g * up[i];
    else v = fp16_to_f32(table[f32_to_fp16(g)]) * up[i];
    out[i] = v;
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * cap;
}

void attention(ThreadPool& pool, const AttentionShape& s, const float* q, const float* keys_t, int64_t ctx_stride,
               const float* values, int64_t first_pos, int64_t n_tokens, float* out) {
  // The scores and weighted sums run on the instruction set chosen at run time (same bits on each).
  const cpu::KernelTable& kt = cpu::kernels();
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t q_stride = s.n_head * s.head_dim;
  const int64_t kv_stride = s.n_head_kv * s.head_dim;
  auto one = [&](int64_t item, std::vector<float>& scores) {
    // Items are taken in zigzag token order (first, last, second, second-to-last, ...) so that
    // every thread's contiguous share has a similar number of keys to visit.
    const int64_t u = item / s.n_head, h = item % s.n_head;
    const int64_t t = (u % 2 == 0) ? u / 2 : n_tokens - 1 - u / 2;
    const int64_t kvh = h / group;
    // Keys lo..first_pos+t; masked keys would only add exp(-inf) = 0 terms, so they are skipped.
    const int64_t end = first_pos + t + 1;
    const int64_t lo = s.window > 0 ? std::max<int64_t>(0, end - s.window) : 0;
    const int64_t n_keys = end - lo;
    scores.resize(size_t(n_keys));
    kt.attention_scores(q + t * q_stride + h * s.head_dim, keys_t + kvh * s.head_dim * ctx_stride + lo, ctx_stride,
                     s.head_dim, n_keys, s.scale, scores.data());
    softmax(scores.data(), n_keys);
    kt.attention_values(scores.data(), values + lo * kv_stride + kvh * s.head_dim, kv_stride, s.head_dim, n_keys,
                     out + t * q_stride + h * s.head_dim);
  };
  const int64_t items = n_tokens * s.n_head;
  const int64_t work = items * (first_pos + n_tokens) * s.head_dim;
  if (pool.size() == 1 || work < (1 << 17)) {
    std::vector<float> scores;
    for (int64_t i = 0; i < items; ++i) one(i, scores);
    return;
  }
  pool.parallel_for(items, [&](int64_t b, int64_t e, int) {
    std::vector<float> scores;
    for (int64_t i = b; i < e; ++i) one(i, scores);
  });
}

}  // namespace quantlab
