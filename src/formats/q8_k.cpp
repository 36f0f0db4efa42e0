// Q8_K: super-blocks of 256 int8 levels with an f32 scale and 16 sums of 16 levels. llama.cpp
// uses it for the activation side of k-quant dot products; it never appears in GGUF files.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8_K) == 292);

void q8_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockQ8_K>(src, i);
    for (int j = 0; j < kSuperBlock; ++j) *dst++ = b.d * float(b.qs[j]);
  }
}

// The value of largest magnitude maps to -127 (llama.cpp: quantize_row_q8_K_ref).
void q8_k_from_float(const float* src, void* dst, int64_t n, const float*) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i, src += kSuperBlock) {
    float max = 0, amax = 0;
    for (int j = 0; j < kSuperBlock; ++j) {
      if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); max = src[j]; }
    }
    BlockQ8_K b{};  // all-zero input: d = 0, levels and sums 0
    if (amax != 0) {
      const float iscale = -127.f / max;
      for (int j = 0; j < kSuperBlock; ++j) b.qs[j] = int8_t(std::min(127, nearest_int(iscale * src[j])));
      for (int j = 0; j < 16; ++j) {
        int sum = 0;
        for (int ii = 0; ii < 16; ++ii) sum += b.qs[16 * j + ii];
        b.bsums[j] = int16_t(sum);
      }
      b.d = 1 / iscale;
    }
    store_block(dst, i, b);
  }
}

}  // namespace

const FormatTraits kQ8_K{FormatId::Q8_K, "q8_K", kSuperBlock, sizeof(BlockQ8_K), true, q8_k_to_float, q8_k_from_float, false};

}  // namespace quantlab::formats
