#pragma once
// Shared arithmetic of the GGUF block formats. Every quantizer here must produce the same bytes as
// llama.cpp's reference code and every dequantizer the same floats as the `gguf` Python package, so
// the rounding of each float operation matters: a fused multiply-add (which the compiler may form
// from `a*b + c` when the target has FMA) rounds once instead of twice and changes results. This
// header therefore switches contraction off for the including file; include it first.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "quantlab/core/half.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace quantlab::formats {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are read as little-endian structs");

// Values per super-block of the k-quants and most i-quants.
inline constexpr int kSuperBlock = 256;

// Round to nearest (ties to even) for |x| < 2^22, by adding 1.5*2^23 and reading the mantissa.
// Unlike a float->int cast it is defined for every input (NaN/huge values give some int), which
// keeps quantizers free of undefined behaviour on garbage input.
inline int nearest_int(float x) {
  const float v = x + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// C's float->int truncation, defined (saturating) outside int's range and for NaN.
inline int truncate_to_int(float x) {
  if (!(x > -2147483648.f)) return x != x ? 0 : INT32_MIN;
  if (!(x < 2147483648.f)) return INT32_MAX;
  return int(x);
}

// A float->int8 store as C performs it for in-range values (ggml writes `qs[j] = roundf(v)`).
inline int8_t to_int8(float x) { return int8_t(truncate_to_int(x)); }

inline float half_to_float(uint16_t h) { return fp16_to_f32(h); }
inline uint16_t float_to_half(float f) { return f32_to_fp16(f); }

// Blocks are read and written through memcpy so that a row may start at any address.
template <class Block>
inline Block load_block(const void* row, int64_t index) {
  static_assert(std::is_trivially_copyable_v<Block>);
  Block b;
  std::memcpy(&b, static_cast<const unsigned char*>(row) + index * int64_t(sizeof(Block)), sizeof(Block));
  return b;
}

template <class Block>
inline void store_block(void* row, int64_t index, const Block& b) {
  std::memcpy(static_cast<unsigned char*>(row) + index * int64_t(sizeof(Block)), &b, sizeof(Block));
}

// Index of the value of the sorted table `values` (n a power of two) nearest to x; ties go up.
// Comparing 2x with the sum of neighbours keeps the midpoint exact (llama.cpp: best_index_int8).
inline int nearest_table_index(int n, const int8_t* values, float x) {
  const float twice = x + x;
  int index = 0;
  for (int step = n >> 1; step > 0; step >>= 1) {
    const int j = index + step;
    if (twice >= float(values[j - 1] + values[j])) index = j;
  }
  return index;
}

}  // namespace quantlab::formats
