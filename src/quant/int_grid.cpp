#include "quantlab/quant/int_grid.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {

namespace {

IntGroupParams fit_awq_params(const float* values, int64_t n, int64_t stride, const IntGridSpec& spec) {
  float lo = values[0], hi = values[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, values[i * stride]);
    hi = std::max(hi, values[i * stride]);
  }
  const int maxq = spec.max_code();
  IntGroupParams p;
  p.scale = fp16_to_f32(f32_to_fp16(std::max(hi - lo, 1e-5f) / float(maxq)));  // stored as f16 (see below)
  const float z = -__builtin_nearbyintf(lo / p.scale);
  p.zero = std::clamp(z, 0.0f, float(maxq));
  return p;
}

}  // namespace

IntGroupParams fit_int_params(const float* values, int64_t n, int64_t stride, const IntGridSpec& spec) {
  if (spec.rule == IntGridRule::AwqMinMax && !spec.symmetric && n > 0) return fit_awq_params(values, n, stride, spec);
  float lo = 0, hi = 0;  // the range always includes zero
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, values[i * stride]);
    hi = std::max(hi, values[i * stride]);
  }
  const int maxq = spec.max_code();
  if (spec.symmetric) {
    hi = std::max(-lo, hi);
    if (lo < 0) lo = -hi;
  }
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  IntGroupParams p;
  // Scales are stored as f16 in every export: fit with the f16 value so the in-memory model and
  // a reloaded file agree bit for bit.
  p.scale = fp16_to_f32(f32_to_fp16((hi - lo) / float(maxq)));
  if (!(p.scale > 0)) p.scale = fp16_to_f32(1);  // smallest f16 subnormal; avoids 0/0

  p.zero = spec.symmetric ? float((maxq + 1) / 2) : __builtin_nearbyintf(-lo / p.scale);
  return p;
}

std::vector<float> IntQuantizedMatrix::dequantize() const {
  std::vector<float> out(size_t(rows * cols));
  dequantize_rows(0, rows, out.data());
  return out;
}

void IntQuantizedMatrix::dequantize_rows(int64_t r0, int64_t r1, float* out) const {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < cols; ++c) out[(r - r0) * cols + c] = value(r, c);
}

IntQuantizedMatrix quantize_rtn(const float* w, int64_t rows, int64_t cols, const IntGridSpec& spec) {
  if (spec.bits < 2 || spec.bits > 8) throw Error("", "bits", "integer grids take 2..8 bits, not " + std::to_string(spec.bits));
  const int64_t gs = spec.group_size <= 0 ? cols : spec.group_size;
  // A last group narrower than gs is allowed (AutoGPTQ/AutoAWQ: ceil(cols / group_size) groups).
  IntQuantizedMatrix m;
  m.rows = rows, m.cols = cols, m.spec = spec, m.n_groups = (cols + gs - 1) / gs;
  m.codes.resize(size_t(rows * cols));
  m.params.resize(size_t(rows * m.n_groups));
  m.g_idx.resize(size_t(cols));
  for (int64_t c = 0; c < cols; ++c) m.g_idx[size_t(c)] = int32_t(c / gs);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < m.n_groups; ++g) {
      const float* src = w + r * cols + g * gs;
      const int64_t width = std::min(gs, cols - g * gs);
      const IntGroupParams p = fit_int_params(src, width, 1, spec);
      m.params[size_t(r * m.n_groups + g)] = p;
      for (int64_t i = 0; i < width; ++i) m.codes[size_t(r * cols + g * gs + i)] = uint8_t(quantize_code(src[i], p, spec.max_code()));
    }
  return m;
}

}  // namespace quantlab
