// Q4_1: blocks of 32 values, f16 scale and f16 minimum, 4-bit levels (x = d * q + m).
// Low nibbles hold values 0..15 of the block, high nibbles values 16..31.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

#include <cfloat>

namespace quantlab::formats {
namespace {

struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

void q4_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockQ4_1>(src, i);
    const float d = half_to_float(b.d);
    const float m = half_to_float(b.m);
    for (int j = 0; j < 16; ++j) {
      dst[j] = float(b.qs[j] & 0x0F) * d + m;
      dst[j + 16] = float(b.qs[j] >> 4) * d + m;
    }
  }
}

// Min/max of the block span the 16 levels.
void quantize_q4_1_plain(const float* x, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ4_1 b{};
    b.d = float_to_half(d);
    b.m = float_to_half(min);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, int(to_int8((x[j] - min) * id + 0.5f)));
      const int q1 = std::min(15, int(to_int8((x[j + 16] - min) * id + 0.5f)));
      b.qs[j] = uint8_t(q0 | (q1 << 4));
    }
    store_block(dst, i, b);
  }
}

// Importance-weighted affine fit per block (llama.cpp: quantize_row_q4_1_impl).
void quantize_q4_1_weighted(const float* x, void* dst, int64_t n, const float* importance) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / float(n);
  float weight[32];
  uint8_t L[32], scratch[32];
  for (int64_t i = 0; i < n / 32; ++i) {
    const float* xb = x + 32 * i;
    const float* qw = importance + 32 * i;
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = affine_scale_search(32, 15, xb, weight, L, &min, scratch, -0.9f, 0.05f, 36, false);
    BlockQ4_1 b{};
    b.d = float_to_half(d);
    b.m = float_to_half(-min);
    for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    store_block(dst, i, b);
  }
}

void q4_1_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q4_1_weighted(src, dst, n, importance);
  else quantize_q4_1_plain(src, dst, n);
}

// The grid of one block (block_grid.hpp): value j is d * q + m, i.e. offset -m.
void q4_1_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  const auto b = load_block<BlockQ4_1>(block, 0);
  const float d = half_to_float(b.d);
  const float m = half_to_float(b.m);
  for (int j = 0; j < 16; ++j) {
    level[j] = int16_t(b.qs[j] & 0x0F);
    level[j + 16] = int16_t(b.qs[j] >> 4);
  }
  for (int j = 0; j < 32; ++j) scale[j] = d, offset[j] = -m;
}

void q4_1_write_levels(void* block, const int16_t* level) {
  auto b = load_block<BlockQ4_1>(block, 0);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(level[j] | (level[j + 16] << 4));
  store_block(block, 0, b);
}

}  // namespace

const BlockGrid kGridQ4_1{FormatId::Q4_1, 32, 0, 15, q4_1_read_grid, q4_1_write_levels};

const FormatTraits kQ4_1{FormatId::Q4_1, "q4_1", 32, sizeof(BlockQ4_1), true, q4_1_to_float, q4_1_from_float, false};

}  // namespace quantlab::formats
