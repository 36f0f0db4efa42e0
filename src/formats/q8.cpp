// Q8_0: blocks of 32 values, one f16 scale, int8 levels (x = d * q).
// Q8_1: the same plus an f16 holding d * sum(q); llama.cpp uses it only as the activation side of
// dot products with Q4_1/Q5_1 weights, so it has an encoder and no decoder (as in ggml).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;  // d * sum of qs
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_1) == 36);

// The absmax scale of 32 values; levels are rounded half away from zero.
float absmax_scale(const float* x, int8_t* qs) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) qs[j] = to_int8(std::round(x[j] * id));
  return d;
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockQ8_0>(src, i);
    const float d = half_to_float(b.d);
    for (int j = 0; j < 32; ++j) dst[j] = float(b.qs[j]) * d;
  }
}

// An importance matrix does not change Q8_0 (llama.cpp ignores it too).
void q8_0_from_float(const float* src, void* dst, int64_t n, const float*) {
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    BlockQ8_0 b{};
    b.d = float_to_half(absmax_scale(src, b.qs));
    store_block(dst, i, b);
  }
}

void q8_1_from_float(const float* src, void* dst, int64_t n, const float*) {
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    BlockQ8_1 b{};
    const float d = absmax_scale(src, b.qs);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += b.qs[j];
    b.d = float_to_half(d);
    b.s = float_to_half(float(sum) * d);
    store_block(dst, i, b);
  }
}

// The grid of one block (block_grid.hpp): value j is d * q, offset 0. Levels stay in [-127, 127]
// as the encoder makes them (llama.cpp's SIMD dot products take the sign of q8 values, which
// overflows at -128).
void q8_0_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  const auto b = load_block<BlockQ8_0>(block, 0);
  const float d = half_to_float(b.d);
  for (int j = 0; j < 32; ++j) level[j] = b.qs[j], scale[j] = d, offset[j] = 0;
}

void q8_0_write_levels(void* block, const int16_t* level) {
  auto b = load_block<BlockQ8_0>(block, 0);
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(level[j]);
  store_block(block, 0, b);
}

}  // namespace

const BlockGrid kGridQ8_0{FormatId::Q8_0, 32, -127, 127, q8_0_read_grid, q8_0_write_levels};

const FormatTraits kQ8_0{FormatId::Q8_0, "q8_0", 32, sizeof(BlockQ8_0), true, q8_0_to_float, q8_0_from_float, false};
const FormatTraits kQ8_1{FormatId::Q8_1, "q8_1", 32, sizeof(BlockQ8_1), true, nullptr, q8_1_from_float, false};

}  // namespace quantlab::formats
