#pragma once
// AWQ's candidate error for one group of a row, shared by the host and the CUDA kernels
// (Backend::awq_scaled_delta): the weights times the candidate scales, fitted and rounded as one
// integer group (int_grid_math.hpp), divided by the scales again, minus the weights. Each value
// takes the same IEEE operations in the same order everywhere, so every backend gives the same bits.
#include "quantlab/quant/int_grid_math.hpp"

#include <cstdint>

namespace quantlab {

// d[i] = Q(w[i]·s[i]) / s[i] - w[i] for the n values of one group (d may not alias w).
QUANTLAB_HOST_DEVICE inline void awq_scaled_delta_group(const float* w, const float* s, int64_t n, int max_code,
                                                        bool symmetric, IntGridRule rule, float* d) {
  IntGroupRange range;
  range.from_zero = !uses_awq_rule(rule, symmetric);
  for (int64_t i = 0; i < n; ++i) {
    d[i] = w[i] * s[i];
    range.add(d[i]);
  }
  const IntGroupParams p = int_params_from_range(range, max_code, symmetric);
  for (int64_t i = 0; i < n; ++i) d[i] = dequantize_code(quantize_code(d[i], p, max_code), p) / s[i] - w[i];
}

}  // namespace quantlab
