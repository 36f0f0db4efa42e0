// Activation quantization for the integer block kernels (quant_dot.hpp); the kernels themselves
// are per instruction set (src/backend/cpu/kernels_*.cpp, over quant_blocks.hpp).
#include "src/backend/quant_dot.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/formats/format.hpp"

#include <algorithm>
#include <cmath>

namespace quantlab::cpu {

void quantize_activations(const float* x, ActivationBlock* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    float amax = 0.0f;
    for (int j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    // As llama.cpp's x86 quantize_row_q8_0/q8_1: id = 127/amax (not 1/d) and round half to even
    // (_mm256_round_ps). The rounding rule is not a detail: on ffn_down's outlier-heavy inputs,
    // round-half-away moved a Q8_0 model's perplexity by 0.1 % against llama.cpp's.
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    ActivationBlock& o = out[b];
    o.qsum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      const float v = x[j] * id;
      // A NaN activation (a broken model: a NaN scale, an overflow to inf) gets -128, what the SIMD
      // paths' conversion gives (cvtps -> INT32_MIN, saturating packs); converting NaN to an
      // integer would be undefined. The logits are NaN either way.
      o.q[j] = v == v ? int8_t(std::nearbyint(v)) : int8_t(-128);
      o.qsum += o.q[j];
    }
    o.d = fp16_to_f32(f32_to_fp16(d));
    o.s = fp16_to_f32(f32_to_fp16(d * float(o.qsum)));
  }
}

void quantize_activations_k(const float* x, ActivationBlockK* out, int64_t n) {
  // The registry's Q8_K encoder is llama.cpp's quantize_row_q8_K_ref, bit for bit (formats tests).
  format_traits(FormatId::Q8_K).from_float(x, out, n, nullptr);
}

}  // namespace quantlab::cpu
