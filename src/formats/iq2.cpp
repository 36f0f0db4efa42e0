// IQ2_XXS, IQ2_XS and IQ2_S: super-blocks of 256 values in groups of 8, each group an entry of
// an E8-like lattice grid (values 8, 25, 43) with individual signs, times a 4-bit sub-block scale:
// x = d * (0.5 + s) * 0.25 * grid[idx][j] * sign[j].
// - IQ2_XXS: per 32 values two uint32 words: 4 grid indices (bytes of the first word); the second
//   word holds 4 x 7 sign bits and the 4-bit scale in bits 28-31.
// - IQ2_XS: per 8 values a uint16: 9-bit grid index and 7 sign bits; one 4-bit scale per 16 values.
// - IQ2_S: 10-bit grid indices (8 bits in qs, 2 in qh), 8 explicit sign bits per group, one 4-bit
//   scale per 16 values.
// These formats need the neighbour search of llama.cpp's quantizer and an importance matrix;
// quantlab decodes them (encoding is not implemented yet).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"

namespace quantlab::formats {
namespace {

struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[32];
};
static_assert(sizeof(BlockIQ2_XXS) == 66);

struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[32];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIQ2_XS) == 74);

struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[64];  // 32 low index bytes, then 32 sign bytes
  uint8_t qh[8];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIQ2_S) == 82);

void decode_group(uint64_t entry, uint8_t signs, float scale, float* dst) {
  for (int j = 0; j < 8; ++j) dst[j] = scale * float(grid_byte(entry, j)) * sign_of(signs, j);
}

void iq2_xxs_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ2_XXS>(src, i);
    const float d = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      uint32_t words[2];
      std::memcpy(words, b.qs + 4 * ib, sizeof words);
      const float db = d * (0.5f + float(words[1] >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint8_t index = uint8_t(words[0] >> (8 * l));
        decode_group(kIq2xxsGrid[index], expand_signs7(words[1] >> (7 * l)), db, dst);
      }
    }
  }
}

void iq2_xs_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ2_XS>(src, i);
    const float d = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      const float db[2] = {d * (0.5f + float(b.scales[ib] & 0xf)) * 0.25f, d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint16_t q = b.qs[4 * ib + l];
        decode_group(kIq2xsGrid[q & 511], expand_signs7(q >> 9), db[l / 2], dst);
      }
    }
  }
}

void iq2_s_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ2_S>(src, i);
    const float d = half_to_float(b.d);
    const uint8_t* signs = b.qs + 32;
    for (int ib = 0; ib < 8; ++ib) {
      const float db[2] = {d * (0.5f + float(b.scales[ib] & 0xf)) * 0.25f, d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, dst += 8) {
        const int index = b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300);
        decode_group(kIq2sGrid[index], signs[4 * ib + l], db[l / 2], dst);
      }
    }
  }
}

}  // namespace

const FormatTraits kIQ2_XXS{FormatId::IQ2_XXS, "iq2_xxs", kSuperBlock, sizeof(BlockIQ2_XXS), true, iq2_xxs_to_float, nullptr, true};
const FormatTraits kIQ2_XS{FormatId::IQ2_XS, "iq2_xs", kSuperBlock, sizeof(BlockIQ2_XS), true, iq2_xs_to_float, nullptr, true};
const FormatTraits kIQ2_S{FormatId::IQ2_S, "iq2_s", kSuperBlock, sizeof(BlockIQ2_S), true, iq2_s_to_float, nullptr, true};

}  // namespace quantlab::formats
