#pragma once
// The arithmetic of one integer-grid group (w ≈ scale * (q - zero), q in [0, max_code]): its fit
// from the group's range and the rounding of a value to a code. Shared by the host and the CUDA
// kernels (GPTQ's column sweep runs on either): every step is one IEEE operation in a fixed order
// (min/max as std::min/std::max pick, division, round half to even, f16 rounding of the scale), so
// both give the same bits.
#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define QUANTLAB_HOST_DEVICE __host__ __device__
#else
#define QUANTLAB_HOST_DEVICE
#endif
#include "quantlab/core/half.hpp"

namespace quantlab {

// How a group's scale and zero are fitted from its values.
enum class IntGridRule {
  AutoGptq,   // AutoGPTQ: the range [min(0, lo), max(0, hi)], zero = round(-lo / scale)
  AwqMinMax,  // AutoAWQ's pseudo_quantize: the range [lo, hi] itself (zero need not be in it),
              // scale = max(hi - lo, 1e-5) / max_code, zero = clamp(-round(lo / scale), 0, max_code)
};

struct IntGroupParams {
  float scale = 1;
  float zero = 0;  // integer-valued
};

// x rounded to the nearest integer, ties to even (torch.round).
QUANTLAB_HOST_DEVICE inline float round_half_even(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return __builtin_nearbyintf(x);
#endif
}

// x rounded to the nearest f16 value (scales are stored as f16 in every export).
QUANTLAB_HOST_DEVICE inline float round_to_f16(float x) {
#if defined(__CUDA_ARCH__)
  return __half2float(__float2half_rn(x));
#else
  return fp16_to_f32(f32_to_fp16(x));
#endif
}

// The range of a group's values as the rule sees it: AutoGPTQ's always contains 0; AutoAWQ's
// starts at the first value.
struct IntGroupRange {
  float lo = 0, hi = 0;
  bool from_zero = true;  // AutoGptq (and every symmetric grid)
  bool empty = true;
  QUANTLAB_HOST_DEVICE void add(float v) {
    if (empty && !from_zero) {
      lo = hi = v;
    } else {
      lo = v < lo ? v : lo;  // std::min(lo, v)
      hi = hi < v ? v : hi;  // std::max(hi, v)
    }
    empty = false;
  }
};

// The rule used for a grid: AutoAWQ's min/max fits asymmetric groups only.
QUANTLAB_HOST_DEVICE inline bool uses_awq_rule(IntGridRule rule, bool symmetric) {
  return rule == IntGridRule::AwqMinMax && !symmetric;
}

// A group's scale (rounded to f16, so a reloaded file agrees bit for bit) and zero from its range.
QUANTLAB_HOST_DEVICE inline IntGroupParams int_params_from_range(IntGroupRange r, int max_code, bool symmetric) {
  IntGroupParams p;
  float lo = r.lo, hi = r.hi;
  if (!r.from_zero && !r.empty) {  // AutoAWQ
    const float span = hi - lo;
    p.scale = round_to_f16((span < 1e-5f ? 1e-5f : span) / float(max_code));
    const float z = -round_half_even(lo / p.scale);
    p.zero = z < 0.0f ? 0.0f : (z > float(max_code) ? float(max_code) : z);
    return p;
  }
  if (symmetric) {
    hi = hi < -lo ? -lo : hi;  // std::max(-lo, hi)
    if (lo < 0) lo = -hi;
  }
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  p.scale = round_to_f16((hi - lo) / float(max_code));
  if (!(p.scale > 0)) p.scale = 5.9604645e-8f;  // the smallest f16 subnormal, 2^-24; avoids 0/0
  p.zero = symmetric ? float((max_code + 1) / 2) : round_half_even(-lo / p.scale);
  return p;
}

QUANTLAB_HOST_DEVICE inline int quantize_code(float w, const IntGroupParams& p, int max_code) {
  float q = round_half_even(w / p.scale) + p.zero;
  q = q < 0 ? 0 : (q > float(max_code) ? float(max_code) : q);
  return int(q);
}
QUANTLAB_HOST_DEVICE inline float dequantize_code(int q, const IntGroupParams& p) { return p.scale * (float(q) - p.zero); }

}  // namespace quantlab
