// Q5_0 and Q5_1: blocks of 32 values with 5-bit levels. Q5_0 has one f16 scale and levels offset
// by 16 (x = d * (q - 16)); Q5_1 has an f16 scale and an f16 minimum (x = d * q + m).
// The low 4 bits are nibbles as in Q4_0/Q4_1; bit 4 of value j is bit j of the 32-bit `qh`.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

#include <cfloat>

namespace quantlab::formats {
namespace {

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// The 5-bit level of value j (0..31) of a block.
inline int q5_level(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return low | int(((qh >> j) & 1u) << 4);
}

// Packs 32 five-bit levels (values 0..31) into a block.
void pack_q5(const uint8_t* L, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
    qh |= uint32_t((L[j] & 0x10u) >> 4) << j;
    qh |= uint32_t((L[j + 16] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockQ5_0>(src, i);
    const float d = half_to_float(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 32; ++j) dst[j] = float(q5_level(b.qs, qh, j) - 16) * d;
  }
}

void quantize_q5_0_plain(const float* x, void* dst, int64_t n) {
  uint8_t L[32];
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) { amax = std::fabs(x[j]); max = x[j]; }
    }
    const float d = max / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ5_0 b{};
    b.d = float_to_half(d);
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(std::min(31, int(to_int8(x[j] * id + 16.5f))));
    pack_q5(L, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

// llama.cpp: quantize_row_q5_0_impl.
void quantize_q5_0_weighted(const float* x, void* dst, int64_t n, const float* importance) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / float(n);
  float weight[32];
  int8_t L[32];
  uint8_t levels[32];
  for (int64_t i = 0; i < n / 32; ++i) {
    const float* xb = x + 32 * i;
    const float* qw = importance + 32 * i;
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = symmetric_scale_search(32, 16, xb, L, 1, weight);
    BlockQ5_0 b{};
    b.d = float_to_half(d);
    for (int j = 0; j < 32; ++j) levels[j] = uint8_t(L[j]);
    pack_q5(levels, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

void q5_0_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q5_0_weighted(src, dst, n, importance);
  else quantize_q5_0_plain(src, dst, n);
}

void q5_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockQ5_1>(src, i);
    const float d = half_to_float(b.d);
    const float m = half_to_float(b.m);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 32; ++j) dst[j] = float(q5_level(b.qs, qh, j)) * d + m;
  }
}

void quantize_q5_1_plain(const float* x, void* dst, int64_t n) {
  uint8_t L[32];
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ5_1 b{};
    b.d = float_to_half(d);
    b.m = float_to_half(min);
    // No clamp to 31 here, as in llama.cpp: (max - min) * id + 0.5 stays below 32.
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(truncate_to_int((x[j] - min) * id + 0.5f));
    pack_q5(L, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

// llama.cpp: quantize_row_q5_1_impl.
void quantize_q5_1_weighted(const float* x, void* dst, int64_t n, const float* importance) {
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
    const float d = affine_scale_search(32, 31, xb, weight, L, &min, scratch, -0.9f, 0.05f, 36, false);
    BlockQ5_1 b{};
    b.d = float_to_half(d);
    b.m = float_to_half(-min);
    pack_q5(L, b.qs, b.qh);
    store_block(dst, i, b);
  }
}

void q5_1_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q5_1_weighted(src, dst, n, importance);
  else quantize_q5_1_plain(src, dst, n);
}

// The grids of one block (block_grid.hpp): Q5_0 value j is d * (q - 16), offset 0; Q5_1 value j
// is d * q + m, offset -m.
template <class Block>
void read_q5_grid(const void* block, float* scale, float* offset, int16_t* level, float m, int shift) {
  const auto b = load_block<Block>(block, 0);
  const float d = half_to_float(b.d);
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 32; ++j) {
    level[j] = int16_t(q5_level(b.qs, qh, j) - shift);
    scale[j] = d;
    offset[j] = -m;
  }
}

void q5_0_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  read_q5_grid<BlockQ5_0>(block, scale, offset, level, -0.0f, 16);  // offset +0
}

void q5_1_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  read_q5_grid<BlockQ5_1>(block, scale, offset, level, half_to_float(load_block<BlockQ5_1>(block, 0).m), 0);
}

template <class Block>
void write_q5_levels(void* block, const int16_t* level, int shift) {
  auto b = load_block<Block>(block, 0);
  uint8_t L[32];
  for (int j = 0; j < 32; ++j) L[j] = uint8_t(level[j] + shift);
  pack_q5(L, b.qs, b.qh);
  store_block(block, 0, b);
}

void q5_0_write_levels(void* block, const int16_t* level) { write_q5_levels<BlockQ5_0>(block, level, 16); }
void q5_1_write_levels(void* block, const int16_t* level) { write_q5_levels<BlockQ5_1>(block, level, 0); }

}  // namespace

const BlockGrid kGridQ5_0{FormatId::Q5_0, 32, -16, 15, q5_0_read_grid, q5_0_write_levels};
const BlockGrid kGridQ5_1{FormatId::Q5_1, 32, 0, 31, q5_1_read_grid, q5_1_write_levels};

const FormatTraits kQ5_0{FormatId::Q5_0, "q5_0", 32, sizeof(BlockQ5_0), true, q5_0_to_float, q5_0_from_float, false};
const FormatTraits kQ5_1{FormatId::Q5_1, "q5_1", 32, sizeof(BlockQ5_1), true, q5_1_to_float, q5_1_from_float, false};

}  // namespace quantlab::formats
