// TQ1_0 and TQ2_0: ternary super-blocks of 256 values (x = d * t, t in -1, 0, 1), d = absmax.
// - TQ2_0: 2 bits per value; byte m of each 32-byte group holds values m, m+32, m+64, m+96.
// - TQ1_0: 5 trits per byte as a base-3 fixed-point fraction (byte = ceil(v * 256 / 243)), so that
//   multiplying by 3 moves the next trit into the high byte; 48 bytes carry 240 values (32-byte
//   then 16-byte groups), 4 more bytes carry the last 16 values, 4 trits each.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab::formats {
namespace {

struct BlockTQ1_0 {
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

struct BlockTQ2_0 {
  uint8_t qs[64];
  uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

// Absmax scale of a super-block and the ternary digit (0, 1, 2) of each value.
float ternary_digits(const float* x, uint8_t* t) {
  float amax = 0;
  for (int j = 0; j < kSuperBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float id = amax != 0 ? 1.0f / amax : 0.0f;
  for (int j = 0; j < kSuperBlock; ++j) t[j] = uint8_t(std::lround(x[j] * id) + 1);
  return amax;
}

// The trit in position `n` (0 = most significant) of a TQ1_0 byte.
int trit(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = uint8_t(byte * kPow3[n]);
  return (uint16_t(shifted) * 3) >> 8;
}

uint8_t pack_trits(const uint8_t* t, int count, int stride) {
  uint8_t q = 0;
  for (int k = 0; k < count; ++k) q = uint8_t(q * 3 + t[k * stride]);
  for (int k = count; k < 5; ++k) q = uint8_t(q * 3);
  return uint8_t((uint16_t(q) * 256 + (243 - 1)) / 243);
}

void tq1_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockTQ1_0>(src, i);
    const float d = half_to_float(b.d);
    for (int n5 = 0; n5 < 5; ++n5)
      for (int m = 0; m < 32; ++m) *dst++ = float(trit(b.qs[m], n5) - 1) * d;
    for (int n5 = 0; n5 < 5; ++n5)
      for (int m = 0; m < 16; ++m) *dst++ = float(trit(b.qs[32 + m], n5) - 1) * d;
    for (int n4 = 0; n4 < 4; ++n4)
      for (int j = 0; j < 4; ++j) *dst++ = float(trit(b.qh[j], n4) - 1) * d;
  }
}

void tq1_0_from_float(const float* src, void* dst, int64_t n, const float*) {
  uint8_t t[kSuperBlock];
  for (int64_t i = 0; i < n / kSuperBlock; ++i, src += kSuperBlock) {
    BlockTQ1_0 b{};
    b.d = float_to_half(ternary_digits(src, t));
    for (int m = 0; m < 32; ++m) b.qs[m] = pack_trits(t + m, 5, 32);
    for (int m = 0; m < 16; ++m) b.qs[32 + m] = pack_trits(t + 160 + m, 5, 16);
    for (int j = 0; j < 4; ++j) b.qh[j] = pack_trits(t + 240 + j, 4, 4);
    store_block(dst, i, b);
  }
}

void tq2_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockTQ2_0>(src, i);
    const float d = half_to_float(b.d);
    for (int j = 0; j < 64; j += 32)
      for (int l = 0; l < 4; ++l)
        for (int m = 0; m < 32; ++m) *dst++ = float(((b.qs[j + m] >> (2 * l)) & 3) - 1) * d;
  }
}

void tq2_0_from_float(const float* src, void* dst, int64_t n, const float*) {
  uint8_t t[kSuperBlock];
  for (int64_t i = 0; i < n / kSuperBlock; ++i, src += kSuperBlock) {
    BlockTQ2_0 b{};
    b.d = float_to_half(ternary_digits(src, t));
    for (int j = 0; j < 64; j += 32)
      for (int m = 0; m < 32; ++m) {
        uint8_t q = 0;
        for (int l = 0; l < 4; ++l) q = uint8_t(q + ((t[4 * j + m + 32 * l] & 3) << (2 * l)));
        b.qs[j + m] = q;
      }
    store_block(dst, i, b);
  }
}

}  // namespace

const FormatTraits kTQ1_0{FormatId::TQ1_0, "tq1_0", kSuperBlock, sizeof(BlockTQ1_0), true, tq1_0_to_float, tq1_0_from_float, false};
const FormatTraits kTQ2_0{FormatId::TQ2_0, "tq2_0", kSuperBlock, sizeof(BlockTQ2_0), true, tq2_0_to_float, tq2_0_from_float, false};

}  // namespace quantlab::formats
