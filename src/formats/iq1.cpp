// IQ1_S and IQ1_M: super-blocks of 256 values in groups of 8, each group an entry of a ternary
// grid (-1, 0, 1) shifted by +-1/8: x = dl * (grid + delta).
// - IQ1_S: 8-bit index bytes in qs; per 32 values a uint16 with 3 extra index bits per group,
//   a 3-bit scale in bits 12-14 (dl = d * (2 s + 1)) and the delta sign in bit 15.
// - IQ1_M: 3 extra index bits and a delta sign per group in qh nibbles; 3-bit scales per 16
//   values; the f16 super-block scale is spread over the top nibbles of the four scale words.
// Decoding only for now: encoding needs llama.cpp's neighbour search (not implemented yet).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"

namespace quantlab::formats {
namespace {

constexpr float kIq1Delta = 0.125f;

struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[32];
  uint16_t qh[8];
};
static_assert(sizeof(BlockIQ1_S) == 50);

struct BlockIQ1_M {
  uint8_t qs[32];
  uint8_t qh[16];
  uint16_t scales[4];
};
static_assert(sizeof(BlockIQ1_M) == 56);

void decode_ternary(uint64_t entry, float dl, float delta, float* dst) {
  for (int j = 0; j < 8; ++j) dst[j] = dl * (float(int8_t(grid_byte(entry, j))) + delta);
}

void iq1_s_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ1_S>(src, i);
    const float d = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      const uint16_t qh = b.qh[ib];
      const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
      const float delta = (qh & 0x8000) ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l, dst += 8)
        decode_ternary(kIq1sGrid[b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)], dl, delta, dst);
    }
  }
}

void iq1_m_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ1_M>(src, i);
    const uint16_t* sc = b.scales;
    const uint16_t d16 = uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    const float d = half_to_float(d16);
    for (int ib = 0; ib < 8; ++ib) {
      const float dl1 = d * float(2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 0x7) + 1);
      const float dl2 = d * float(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
      const uint8_t* qs = b.qs + 4 * ib;
      const uint8_t* qh = b.qh + 2 * ib;
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint8_t h = uint8_t(qh[l / 2] >> (4 * (l % 2)));
        const int index = qs[l] | ((h & 7) << 8);
        const float delta = (h & 0x08) ? -kIq1Delta : kIq1Delta;
        decode_ternary(kIq1sGrid[index], l < 2 ? dl1 : dl2, delta, dst);
      }
    }
  }
}

}  // namespace

const FormatTraits kIQ1_S{FormatId::IQ1_S, "iq1_s", kSuperBlock, sizeof(BlockIQ1_S), true, iq1_s_to_float, nullptr, true};
const FormatTraits kIQ1_M{FormatId::IQ1_M, "iq1_m", kSuperBlock, sizeof(BlockIQ1_M), true, iq1_m_to_float, nullptr, true};

}  // namespace quantlab::formats
