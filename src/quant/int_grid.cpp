#include "quantlab/quant/int_grid.hpp"

#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {

IntGroupParams fit_int_params(const float* values, int64_t n, int64_t stride, const IntGridSpec& spec) {
  IntGroupRange range;
  range.from_zero = !uses_awq_rule(spec.rule, spec.symmetric);
  for (int64_t i = 0; i < n; ++i) range.add(values[i * stride]);
  return int_params_from_range(range, spec.max_code(), spec.symmetric);
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

IntQuantizedMatrix quantize_rtn(const float* w, int64_t rows, int64_t cols, const IntGridSpec& spec, ThreadPool* pool) {
  if (spec.bits < 2 || spec.bits > 8) throw Error("", "bits", "integer grids take 2..8 bits, not " + std::to_string(spec.bits));
  const int64_t gs = spec.group_size <= 0 ? cols : spec.group_size;
  // A last group narrower than gs is allowed (AutoGPTQ/AutoAWQ: ceil(cols / group_size) groups).
  IntQuantizedMatrix m;
  m.rows = rows, m.cols = cols, m.spec = spec, m.n_groups = (cols + gs - 1) / gs;
  m.codes.resize(size_t(rows * cols));
  m.params.resize(size_t(rows * m.n_groups));
  m.g_idx.resize(size_t(cols));
  for (int64_t c = 0; c < cols; ++c) m.g_idx[size_t(c)] = int32_t(c / gs);
  // Rows are independent: split across the pool, if any, with the same bits.
  auto quantize_rows = [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t g = 0; g < m.n_groups; ++g) {
        const float* src = w + r * cols + g * gs;
        const int64_t width = std::min(gs, cols - g * gs);
        const IntGroupParams p = fit_int_params(src, width, 1, spec);
        m.params[size_t(r * m.n_groups + g)] = p;
        for (int64_t i = 0; i < width; ++i)
          m.codes[size_t(r * cols + g * gs + i)] = uint8_t(quantize_code(src[i], p, spec.max_code()));
      }
  };
  if (pool) pool->parallel_for(rows, quantize_rows);
  else quantize_rows(0, rows, 0);
  return m;
}

}  // namespace quantlab
