// IQ3_XXS and IQ3_S: super-blocks of 256 values in groups of 4, each group an entry of a 3-bit
// lattice grid, with signs per value.
// - IQ3_XXS: 64 one-byte grid indices, then per 32 values a uint32 with 4 x 7 sign bits and a
//   4-bit scale in bits 28-31: x = d * (0.5 + s) * 0.5 * grid * sign.
// - IQ3_S: 9-bit grid indices (8 bits in qs, the ninth in qh), 8 explicit sign bits per 8 values,
//   one 4-bit scale per 32 values: x = d * (1 + 2 s) * grid * sign.
// Decoding only for now: encoding needs llama.cpp's neighbour search (not implemented yet).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"

namespace quantlab::formats {
namespace {

struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[96];  // 64 grid indices, then 8 uint32 of signs and scales
};
static_assert(sizeof(BlockIQ3_XXS) == 98);

struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
};
static_assert(sizeof(BlockIQ3_S) == 110);

// Eight values from two 4-value grid entries.
void decode_pair(uint32_t first, uint32_t second, uint8_t signs, float scale, float* dst) {
  for (int j = 0; j < 4; ++j) {
    dst[j] = scale * float(uint8_t(first >> (8 * j))) * sign_of(signs, j);
    dst[j + 4] = scale * float(uint8_t(second >> (8 * j))) * sign_of(signs, j + 4);
  }
}

void iq3_xxs_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ3_XXS>(src, i);
    const float d = half_to_float(b.d);
    const uint8_t* qs = b.qs;
    for (int ib = 0; ib < 8; ++ib, qs += 8) {
      uint32_t aux;
      std::memcpy(&aux, b.qs + 64 + 4 * ib, sizeof aux);
      const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, dst += 8)
        decode_pair(kIq3xxsGrid[qs[2 * l]], kIq3xxsGrid[qs[2 * l + 1]], expand_signs7(aux >> (7 * l)), db, dst);
    }
  }
}

void iq3_s_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ3_S>(src, i);
    const float d = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      const int s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0xf;
      const float db = d * float(1 + 2 * s);
      const uint8_t* qs = b.qs + 8 * ib;
      const uint8_t qh = b.qh[ib];
      for (int l = 0; l < 4; ++l, dst += 8) {
        const int i1 = qs[2 * l] | ((qh << (8 - 2 * l)) & 256);
        const int i2 = qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256);
        decode_pair(kIq3sGrid[i1], kIq3sGrid[i2], b.signs[4 * ib + l], db, dst);
      }
    }
  }
}

}  // namespace

const FormatTraits kIQ3_XXS{FormatId::IQ3_XXS, "iq3_xxs", kSuperBlock, sizeof(BlockIQ3_XXS), true, iq3_xxs_to_float, nullptr, true};
const FormatTraits kIQ3_S{FormatId::IQ3_S, "iq3_s", kSuperBlock, sizeof(BlockIQ3_S), true, iq3_s_to_float, nullptr, false};

}  // namespace quantlab::formats
