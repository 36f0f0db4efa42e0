#pragma once
// AWQ's candidate errors for one group of a row, shared by the host and the CUDA kernels
// (Backend::awq_scaled_delta, Backend::awq_clip): the weights scaled or clamped, fitted and rounded
// as one integer group (int_grid_math.hpp), minus the weights. Each value takes the same IEEE
// operations in the same order everywhere, so every backend gives the same bits.
#include "quantlab/quant/int_grid_math.hpp"

#include <cstdint>

namespace quantlab {

// a - b, never fused with the product that made a (nvcc contracts a*b - c into one rounding by
// default; the CPU backend is built with -ffp-contract=off).
QUANTLAB_HOST_DEVICE inline float awq_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

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
  for (int64_t i = 0; i < n; ++i) d[i] = awq_sub(dequantize_code(quantize_code(d[i], p, max_code), p) / s[i], w[i]);
}

// AWQ's clipping candidate for one group: d[i] = Q(clamp(w[i], -max_val, max_val)) - w[i], the
// clamped values fitted and rounded as one group (d may not alias w).
QUANTLAB_HOST_DEVICE inline void awq_clipped_delta_group(const float* w, int64_t n, float max_val, int max_code,
                                                         bool symmetric, IntGridRule rule, float* d) {
  IntGroupRange range;
  range.from_zero = !uses_awq_rule(rule, symmetric);
  for (int64_t i = 0; i < n; ++i) {
    d[i] = w[i] < -max_val ? -max_val : (max_val < w[i] ? max_val : w[i]);  // std::clamp
    range.add(d[i]);
  }
  const IntGroupParams p = int_params_from_range(range, max_code, symmetric);
  for (int64_t i = 0; i < n; ++i) d[i] = awq_sub(dequantize_code(quantize_code(d[i], p, max_code), p), w[i]);
}

// The thresholds AWQ's clipping tries for a group whose largest |w| is amax: amax·(1 - k/clip_grid).
QUANTLAB_HOST_DEVICE inline float awq_clip_candidate(float amax, int k, int clip_grid) {
  return amax * (1.0f - float(k) / float(clip_grid));
}

}  // namespace quantlab
