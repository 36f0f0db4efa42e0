#include "quantlab/quant/bnb_blockwise8.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/quant/bnb_gpu_math.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace quantlab::bnb {
namespace {

// torch.linspace(0.1, 1, n, dtype=float32) on the CPU: the first half counts up from start, the
// second half down from end, each point one fused multiply-add (the compiler contracts it).
std::vector<float> torch_linspace_f32(int n) {
  const float start = 0.1f, end = 1.0f;
  const float step = (end - start) / float(n - 1);
  const int halfway = n / 2;
  std::vector<float> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    out[size_t(i)] = i < halfway ? std::fma(step, float(i), start) : std::fma(-step, float(n - i - 1), end);
  return out;
}

std::array<float, 256> build_dynamic_map_signed() {
  // 7 exponent bits, 7 non-sign bits: exponent i (0..6) gets 2^i fraction values, scaled by
  // 10^(i-6); each value appears with both signs; plus 0 and 1. Python computes 10**(i-6) as a
  // double and torch multiplies in float32.
  static constexpr double kPow10[7] = {1e-06, 1e-05, 1e-04, 1e-03, 1e-02, 1e-01, 1.0};
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const auto b = torch_linspace_f32((1 << i) + 1);
    for (size_t k = 0; k + 1 < b.size(); ++k) {
      const float mean = (b[k] + b[k + 1]) / 2.0f;
      const float v = float(kPow10[i]) * mean;
      data.push_back(v);
      data.push_back(-v);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> table{};
  std::copy(data.begin(), data.end(), table.begin());
  return table;
}

}  // namespace

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> table = build_dynamic_map_signed();
  return table;
}

uint8_t dynamic_code(const std::array<float, 256>& code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[size_t(pivot)];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[size_t(pivot)];
  }
  if (upper_pivot == 255) upper = code[255];
  if (lower_pivot == 0) lower = code[0];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return uint8_t(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return uint8_t(x < midpoint ? lower_pivot : pivot);
}

Blockwise8 quantize_blockwise8(const float* x, int64_t n, int64_t block_size, const std::array<float, 256>& code) {
  if (block_size <= 0) throw Error("", "blocksize", "must be positive, got " + std::to_string(block_size));
  Blockwise8 q;
  q.block_size = block_size;
  q.codes.resize(size_t(n));
  const int64_t blocks = (n + block_size - 1) / block_size;
  q.absmax.resize(size_t(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * block_size, end = std::min(n, begin + block_size);
    float absmax = -FLT_MAX;
    for (int64_t i = begin; i < end; ++i) absmax = std::max(absmax, flush_denormal(std::fabs(x[i])));
    q.absmax[size_t(b)] = absmax;
    const float inv = gpu_reciprocal(absmax);
    for (int64_t i = begin; i < end; ++i)
      q.codes[size_t(i)] = dynamic_code(code, flush_denormal(flush_denormal(x[i]) * inv));
  }
  return q;
}

std::vector<float> dequantize_blockwise8(const Blockwise8& q, const std::array<float, 256>& code) {
  std::vector<float> out(q.codes.size());
  for (size_t i = 0; i < q.codes.size(); ++i)
    out[i] = flush_denormal(code[q.codes[i]] * q.absmax[i / size_t(q.block_size)]);
  return out;
}

}  // namespace quantlab::bnb
