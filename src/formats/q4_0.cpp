// Q4_0: blocks of 32 values, one f16 scale, 4-bit levels stored offset by 8 (x = d * (q - 8)).
// Low nibbles hold values 0..15 of the block, high nibbles values 16..31.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

void q4_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockQ4_0>(src, i);
    const float d = half_to_float(b.d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = float((b.qs[j] & 0x0F) - 8) * d;
      dst[j + 16] = float((b.qs[j] >> 4) - 8) * d;
    }
  }
}

// The scale maps the value of largest magnitude to -8, so that level is used in full.
void quantize_q4_0_plain(const float* x, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) { amax = std::fabs(x[j]); max = x[j]; }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ4_0 b{};
    b.d = float_to_half(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, int(to_int8(x[j] * id + 8.5f)));
      const int q1 = std::min(15, int(to_int8(x[j + 16] * id + 8.5f)));
      b.qs[j] = uint8_t(q0 | (q1 << 4));
    }
    store_block(dst, i, b);
  }
}

// With an importance matrix the scale is a weighted least-squares search; the weights add the
// row's mean square so that small values still count (llama.cpp: quantize_row_q4_0_impl).
void quantize_q4_0_weighted(const float* x, void* dst, int64_t n, const float* importance) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / float(n);
  float weight[32];
  int8_t L[32];
  for (int64_t i = 0; i < n / 32; ++i) {
    const float* xb = x + 32 * i;
    const float* qw = importance + 32 * i;
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = symmetric_scale_search(32, 8, xb, L, 1, weight);
    BlockQ4_0 b{};
    b.d = float_to_half(d);
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    store_block(dst, i, b);
  }
}

void q4_0_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q4_0_weighted(src, dst, n, importance);
  else quantize_q4_0_plain(src, dst, n);
}

// The grid of one block (block_grid.hpp): value j is d * (q - 8), offset 0.
void q4_0_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  const auto b = load_block<BlockQ4_0>(block, 0);
  const float d = half_to_float(b.d);
  for (int j = 0; j < 16; ++j) {
    level[j] = int16_t((b.qs[j] & 0x0F) - 8);
    level[j + 16] = int16_t((b.qs[j] >> 4) - 8);
  }
  for (int j = 0; j < 32; ++j) scale[j] = d, offset[j] = 0;
}

void q4_0_write_levels(void* block, const int16_t* level) {
  auto b = load_block<BlockQ4_0>(block, 0);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t((level[j] + 8) | ((level[j + 16] + 8) << 4));
  store_block(block, 0, b);
}

}  // namespace

const BlockGrid kGridQ4_0{FormatId::Q4_0, 32, -8, 7, q4_0_read_grid, q4_0_write_levels};

const FormatTraits kQ4_0{FormatId::Q4_0, "q4_0", 32, sizeof(BlockQ4_0), true, q4_0_to_float, q4_0_from_float, false};

}  // namespace quantlab::formats
