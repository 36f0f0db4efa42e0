// IQ2_XXS, IQ2_XS and IQ2_S: super-blocks of 256 values in groups of 8, each group an entry of
// an E8-like lattice grid (values 8, 25, 43) with individual signs, times a 4-bit sub-block scale:
// x = d * (0.5 + s) * 0.25 * grid[idx][j] * sign[j].
// - IQ2_XXS: per 32 values two uint32 words: 4 grid indices (bytes of the first word); the second
//   word holds 4 x 7 sign bits and the 4-bit scale in bits 28-31.
// - IQ2_XS: per 8 values a uint16: 9-bit grid index and 7 sign bits; one 4-bit scale per 16 values.
// - IQ2_S: 10-bit grid indices (8 bits in qs, 2 in qh), 8 explicit sign bits per group, one 4-bit
//   scale per 16 values.
// Encoding follows llama.cpp's quantize_row_iq2_{xxs,xs,s}_impl: a scale search per sub-block with
// every group of 8 snapped to the grid or its best neighbour, a refit, then 4-bit sub-block
// scales. IQ2_XXS and IQ2_XS need an importance matrix (as in llama.cpp); IQ2_S does not.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"
#include "src/formats/iq_search.hpp"
#include "src/formats/scale_search.hpp"
#include "quantlab/core/error.hpp"

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

constexpr int kIq2MaxLevel = 2;  // levels 0..2, q = 2l + 1 in 1, 3, 5

void require_importance(const float* importance, const char* name) {
  if (!importance)
    throw Error("", "importance", std::string(name) + " needs an importance matrix (as in llama.cpp)");
}

void iq2_xxs_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  require_importance(importance, "iq2_xxs");
  const Lattice& lattice = iq2xxs_lattice();
  float scales[8], weight[32], waux[32], xval[32];
  int8_t L[32], Laux[32];
  uint8_t signs[4];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    uint32_t q2[16] = {};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      const float* qw = importance + kSuperBlock * ibl + 32 * ib;
      for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
      split_signs_even(xb, weight, xval, signs, 4);
      float max = xval[0];
      for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
      if (max < 1e-15f) {
        scales[ib] = 0;
        continue;
      }
      // The starting scale comes from a plain 4-level fit of the magnitudes.
      float scale = positive_scale_search(32, kIq2MaxLevel + 2, xval, reinterpret_cast<uint8_t*>(L), weight);
      const float eff_max = scale * float(kIq2MaxLevel + 1);
      if (eff_max <= 0) {
        scales[ib] = 0;
        continue;
      }
      float best = 0;
      for (int step = -6; step <= 6; ++step) {
        const float id = (float(2 * kIq2MaxLevel + 1) + float(step) * 0.1f) / eff_max;
        const float this_scale = 1 / id;
        for (int k = 0; k < 4; ++k) {
          const int packed = round_group<8>(lattice, id, xval + 8 * k, kIq2MaxLevel, Laux + 8 * k);
          if (lattice.grid_index(packed) < 0) lattice.best_neighbour(packed, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k);
        }
        float sumqx, sumq2;
        fit_odd_levels(Laux, xval, weight, 32, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          std::copy(Laux, Laux + 32, L);
        }
      }
      if (scale > 0) {  // every group again at the final scale
        const float id = 1 / scale;
        for (int k = 0; k < 4; ++k) {
          int8_t levels[8];
          const int packed = round_group<8>(lattice, id, xval + 8 * k, kIq2MaxLevel, levels);
          int index = lattice.grid_index(packed);
          if (index < 0) index = lattice.best_neighbour(packed, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
          for (int i = 0; i < 8; ++i) L[8 * k + i] = int8_t(lattice.level(index, i));
        }
        float sumqx, sumq2;
        fit_odd_levels(L, xval, weight, 32, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {  // cannot happen for finite input; the stored scale is unsigned
        scale = -scale;
        for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
      }
      for (int k = 0; k < 4; ++k) {
        q2[2 * ib] |= uint32_t(final_grid_index(lattice, L + 8 * k)) << (8 * k);
        q2[2 * ib + 1] |= uint32_t(signs[k]) << (7 * k);
      }
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    BlockIQ2_XXS b{};
    if (max_scale != 0) {
      const float d = max_scale / 31;
      b.d = float_to_half(d);
      const float id = 1 / d;
      for (int ib = 0; ib < 8; ++ib) {
        const int l = std::max(0, std::min(15, nearest_int(0.5f * (id * scales[ib] - 1))));
        q2[2 * ib + 1] |= uint32_t(l) << 28;
      }
      std::memcpy(b.qs, q2, sizeof q2);
    }
    store_block(dst, ibl, b);
  }
}

// The search shared by IQ2_XS and IQ2_S over one 16-value sub-block (two groups of 8): candidate
// inverse scales around max/5, then the off-grid groups again at the chosen scale.
float iq2_search16(const Lattice& lattice, const float* xval, const float* weight, const float* waux, float max,
                   int8_t* L) {
  int8_t Laux[16];
  bool on_grid[2] = {true, true}, on_grid_aux[2];
  float best = 0;
  float scale = max / float(2 * kIq2MaxLevel + 1);
  for (int step = -9; step <= 9; ++step) {
    const float id = (float(2 * kIq2MaxLevel + 1) + float(step) * 0.1f) / max;
    const float this_scale = 1 / id;
    for (int k = 0; k < 2; ++k) {
      const int packed = round_group<8>(lattice, id, xval + 8 * k, kIq2MaxLevel, Laux + 8 * k);
      on_grid_aux[k] = lattice.grid_index(packed) >= 0;
      if (!on_grid_aux[k]) lattice.best_neighbour(packed, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k);
    }
    float sumqx, sumq2;
    fit_odd_levels(Laux, xval, weight, 16, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::copy(Laux, Laux + 16, L);
      on_grid[0] = on_grid_aux[0];
      on_grid[1] = on_grid_aux[1];
    }
  }
  if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < 2; ++k) {
      if (on_grid[k]) continue;
      const int packed = round_group<8>(lattice, id, xval + 8 * k, kIq2MaxLevel, L + 8 * k);
      if (lattice.grid_index(packed) < 0) lattice.best_neighbour(packed, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
    }
    float sumqx, sumq2;
    fit_odd_levels(L, xval, weight, 16, sumqx, sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  return scale;
}

// The 4-bit sub-block scales of IQ2_XS/IQ2_S, two per byte.
void pack_iq2_scales(const float* scales, float max_scale, uint8_t* packed) {
  const float id = 1 / (max_scale / 31);
  for (int ib = 0; ib < 16; ++ib) {
    const int l = std::max(0, std::min(15, nearest_int(0.5f * (id * scales[ib] - 1))));
    if (ib % 2 == 0) packed[ib / 2] = uint8_t(l);
    else packed[ib / 2] = uint8_t(packed[ib / 2] | (l << 4));
  }
}

void iq2_xs_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  require_importance(importance, "iq2_xs");
  const Lattice& lattice = iq2xs_lattice();
  float scales[16], weight[16], waux[16], xval[16];
  int8_t L[16];
  uint8_t signs[2];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ2_XS b{};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      const float* xb = xbl + 16 * ib;
      const float* qw = importance + kSuperBlock * ibl + 16 * ib;
      for (int i = 0; i < 16; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
      split_signs_even(xb, weight, xval, signs, 2);
      float max = xval[0];
      for (int i = 1; i < 16; ++i) max = std::max(max, xval[i]);
      std::fill(L, L + 16, int8_t(0));
      if (max < 1e-15f) {
        scales[ib] = 0;
        continue;
      }
      float scale = iq2_search16(lattice, xval, weight, waux, max, L);
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 2; ++k) signs[k] = uint8_t(~signs[k] & 127);
      }
      for (int k = 0; k < 2; ++k) b.qs[2 * ib + k] = uint16_t(final_grid_index(lattice, L + 8 * k) | (signs[k] << 9));
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      b.d = float_to_half(max_scale / 31);
      pack_iq2_scales(scales, max_scale, b.scales);
    } else {
      b = BlockIQ2_XS{};
    }
    store_block(dst, ibl, b);
  }
}

void iq2_s_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  const Lattice& lattice = iq2s_lattice();
  float scales[16], weight[16], waux[16], xval[16];
  int8_t L[16];
  uint8_t signs[2];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ2_S b{};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      const float* xb = xbl + 16 * ib;
      if (importance) {
        const float* qw = importance + kSuperBlock * ibl + 16 * ib;
        for (int i = 0; i < 16; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      } else {
        for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
      }
      for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
      split_signs(xb, xval, signs, 2);
      float max = xval[0];
      for (int i = 1; i < 16; ++i) max = std::max(max, xval[i]);
      std::fill(L, L + 16, int8_t(0));
      if (max < 1e-8f) {
        scales[ib] = 0;
        continue;
      }
      float scale = iq2_search16(lattice, xval, weight, waux, max, L);
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 2; ++k) signs[k] = uint8_t(~signs[k]);
      }
      for (int k = 0; k < 2; ++k) {
        const int index = final_grid_index(lattice, L + 8 * k);
        const int i8 = 2 * ib + k;
        b.qs[i8] = uint8_t(index & 255);
        b.qh[i8 / 4] = uint8_t(b.qh[i8 / 4] | ((index >> 8) << 2 * (i8 % 4)));
        b.qs[32 + i8] = signs[k];
      }
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      b.d = float_to_half(max_scale / 31 * 0.9875f);  // llama.cpp's fudge factor
      pack_iq2_scales(scales, max_scale, b.scales);
    }
    store_block(dst, ibl, b);
  }
}

}  // namespace

const FormatTraits kIQ2_XXS{FormatId::IQ2_XXS, "iq2_xxs", kSuperBlock, sizeof(BlockIQ2_XXS), true, iq2_xxs_to_float, iq2_xxs_from_float, true};
const FormatTraits kIQ2_XS{FormatId::IQ2_XS, "iq2_xs", kSuperBlock, sizeof(BlockIQ2_XS), true, iq2_xs_to_float, iq2_xs_from_float, true};
const FormatTraits kIQ2_S{FormatId::IQ2_S, "iq2_s", kSuperBlock, sizeof(BlockIQ2_S), true, iq2_s_to_float, iq2_s_from_float, true};

}  // namespace quantlab::formats
