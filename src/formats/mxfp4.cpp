// MXFP4 (OCP microscaling FP4): blocks of 32 E2M1 values sharing an E8M0 power-of-two scale.
// ggml stores the E2M1 values doubled as int8 (0, 1, 2, 3, 4, 6, 8, 12 and negatives) and halves
// the scale instead: x = 2^(e - 128) * table[q]. Nibbles are laid out as Q4_0's.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab::formats {
namespace {

constexpr int8_t kFp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[16];
};
static_assert(sizeof(BlockMXFP4) == 17);

// 2^(e - 128) built from its bits (subnormal for e < 2), as ggml_e8m0_to_fp32_half does.
float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : uint32_t(e - 1) << 23;
  return bits_f32(bits);
}

void mxfp4_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockMXFP4>(src, i);
    const float d = e8m0_half(b.e);
    for (int j = 0; j < 16; ++j) {
      dst[j] = float(kFp4Values[b.qs[j] & 0x0F]) * d;
      dst[j + 16] = float(kFp4Values[b.qs[j] >> 4]) * d;
    }
  }
}

// Index of the table value nearest to x at scale d (first on ties).
int nearest_fp4(float x, float d) {
  int best = 0;
  float best_err = std::fabs(float(kFp4Values[0]) * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(float(kFp4Values[i]) * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

// The exponent puts the largest magnitude in the top binade of the doubled table
// (llama.cpp: quantize_row_mxfp4_ref, which ignores importance weights).
void mxfp4_from_float(const float* src, void* dst, int64_t n, const float*) {
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j)
      if (amax < std::fabs(src[j])) amax = std::fabs(src[j]);
    BlockMXFP4 b{};
    b.e = amax > 0 ? uint8_t(truncate_to_int(std::floor(std::log2(amax)) - 2 + 127)) : 0;
    const float d = e8m0_half(b.e);
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(nearest_fp4(src[j], d) | (nearest_fp4(src[j + 16], d) << 4));
    store_block(dst, i, b);
  }
}

}  // namespace

const FormatTraits kMXFP4{FormatId::MXFP4, "mxfp4", 32, sizeof(BlockMXFP4), true, mxfp4_to_float, mxfp4_from_float, false};

}  // namespace quantlab::formats
