// IQ3_XXS and IQ3_S: super-blocks of 256 values in groups of 4, each group an entry of a 3-bit
// lattice grid, with signs per value.
// - IQ3_XXS: 64 one-byte grid indices, then per 32 values a uint32 with 4 x 7 sign bits and a
//   4-bit scale in bits 28-31: x = d * (0.5 + s) * 0.5 * grid * sign.
// - IQ3_S: 9-bit grid indices (8 bits in qs, the ninth in qh), 8 explicit sign bits per 8 values,
//   one 4-bit scale per 32 values: x = d * (1 + 2 s) * grid * sign.
// Encoding follows llama.cpp's quantize_row_iq3_xxs_impl / quantize_row_iq3_s_impl: per 32 values
// a scale search over candidate inverse scales, each group snapped to the grid (or its best
// neighbour), then a weighted least-squares refit; the 4-bit sub-block scales come last.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"
#include "src/formats/iq_search.hpp"

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

constexpr int kIq3MaxLevel = 7;  // levels 0..7, q = 2l + 1 in 1..15

// Importance weights of one 32-value sub-block; x^2 without an importance matrix.
void iq3_weights(const float* xb, const float* qw, float sigma2, float* weight, float* waux) {
  for (int i = 0; i < 32; ++i) weight[i] = qw ? qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
  for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
}

// The candidate-scale search over one 32-value sub-block: returns the scale and leaves the
// best levels in L and which groups of 4 were on the grid in on_grid.
float iq3_scale_search(const Lattice& lattice, const float* xval, const float* weight, const float* waux, float max,
                       int steps, bool on_grid_start, int8_t* L, bool* on_grid) {
  int8_t Laux[32];
  bool on_grid_aux[8];
  float best = 0;
  float scale = max / float(2 * kIq3MaxLevel + 1);
  for (int k = 0; k < 8; ++k) on_grid[k] = on_grid_start;
  for (int step = -steps; step <= steps; ++step) {
    const float id = (float(2 * kIq3MaxLevel + 1) + float(step) * 0.2f) / max;
    const float this_scale = 1 / id;
    for (int k = 0; k < 8; ++k) {
      const int packed = round_group<4>(lattice, id, xval + 4 * k, kIq3MaxLevel, Laux + 4 * k);
      on_grid_aux[k] = lattice.grid_index(packed) >= 0;
      if (!on_grid_aux[k]) lattice.best_neighbour(packed, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
    }
    float sumqx, sumq2;
    fit_odd_levels(Laux, xval, weight, 32, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::copy(Laux, Laux + 32, L);
      std::copy(on_grid_aux, on_grid_aux + 8, on_grid);
    }
  }
  return scale;
}

// Re-snaps groups at the final scale (all of them, or only those that were off the grid) and
// refits the scale.
float iq3_resnap(const Lattice& lattice, const float* xval, const float* weight, const float* waux, float scale,
                 bool only_off_grid, const bool* on_grid, int8_t* L) {
  const float id = 1 / scale;
  for (int k = 0; k < 8; ++k) {
    if (only_off_grid && on_grid[k]) continue;
    int8_t levels[4];
    const int packed = round_group<4>(lattice, id, xval + 4 * k, kIq3MaxLevel, levels);
    int index = lattice.grid_index(packed);
    if (index < 0) index = lattice.best_neighbour(packed, xval + 4 * k, waux + 4 * k, scale, L + 4 * k);
    for (int i = 0; i < 4; ++i) L[4 * k + i] = int8_t(lattice.level(index, i));
  }
  float sumqx, sumq2;
  fit_odd_levels(L, xval, weight, 32, sumqx, sumq2);
  return sumq2 > 0 ? sumqx / sumq2 : scale;
}

void iq3_xxs_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  const Lattice& lattice = iq3xxs_lattice();
  float scales[8], weight[32], waux[32], xval[32];
  int8_t L[32];
  bool on_grid[8];
  uint8_t signs[4];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ3_XXS b{};
    uint8_t* indices = b.qs;
    uint32_t scales_and_signs[8] = {};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      iq3_weights(xb, importance ? importance + kSuperBlock * ibl + 32 * ib : nullptr, sigma2, weight, waux);
      split_signs_even(xb, weight, xval, signs, 4);
      float max = xval[0];
      for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
      std::fill(L, L + 32, int8_t(0));
      if (max < 1e-8f) {
        scales[ib] = 0;
        continue;
      }
      float scale = iq3_scale_search(lattice, xval, weight, waux, max, 15, true, L, on_grid);
      const bool any_off_grid = std::find(on_grid, on_grid + 8, false) != on_grid + 8;
      if (any_off_grid && scale > 0) scale = iq3_resnap(lattice, xval, weight, waux, scale, true, on_grid, L);
      if (scale < 0) {  // cannot happen for finite input; the stored scale is unsigned
        scale = -scale;
        for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
      }
      for (int k = 0; k < 8; ++k) indices[8 * ib + k] = uint8_t(final_grid_index(lattice, L + 4 * k));
      scales_and_signs[ib] = uint32_t(signs[0]) | (uint32_t(signs[1]) << 7) | (uint32_t(signs[2]) << 14) |
                             (uint32_t(signs[3]) << 21);
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      const float d = max_scale / 31;
      b.d = float_to_half(d * 1.0125f);  // llama.cpp's fudge factor
      const float id = 1 / d;
      for (int ib = 0; ib < 8; ++ib) {
        const int l = std::max(0, std::min(15, nearest_int(0.5f * (id * scales[ib] - 1))));
        scales_and_signs[ib] |= uint32_t(l) << 28;
      }
      std::memcpy(b.qs + 64, scales_and_signs, sizeof scales_and_signs);
    } else {
      b = BlockIQ3_XXS{};
    }
    store_block(dst, ibl, b);
  }
}

void iq3_s_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  const Lattice& lattice = iq3s_lattice();
  float scales[8], weight[32], waux[32], xval[32];
  int8_t L[32];
  bool on_grid[8];
  uint8_t signs[4];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ3_S b{};
    // llama.cpp advances its qs/signs write positions only after a non-zero sub-block, so an
    // all-zero sub-block shifts the following ones (qh is indexed directly). Reproduced for
    // byte-identical files.
    int qs_pos = 0, signs_pos = 0;
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      iq3_weights(xb, importance ? importance + kSuperBlock * ibl + 32 * ib : nullptr, sigma2, weight, waux);
      split_signs(xb, xval, signs, 4);
      float max = xval[0];
      for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
      std::fill(L, L + 32, int8_t(0));
      if (max == 0) {
        scales[ib] = 0;
        continue;
      }
      float scale = iq3_scale_search(lattice, xval, weight, waux, max, 9, false, L, on_grid);
      const bool any_off_grid = std::find(on_grid, on_grid + 8, false) != on_grid + 8;
      if (any_off_grid && scale > 0) scale = iq3_resnap(lattice, xval, weight, waux, scale, false, on_grid, L);
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k]);
      }
      for (int k = 0; k < 8; ++k) {
        const int index = final_grid_index(lattice, L + 4 * k);
        b.qs[qs_pos + k] = uint8_t(index & 255);
        b.qh[ib] = uint8_t(b.qh[ib] | ((index >> 8) << k));
      }
      qs_pos += 8;
      std::copy(signs, signs + 4, b.signs + signs_pos);
      signs_pos += 4;
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      const float d = max_scale / 31;
      b.d = float_to_half(d * 1.033f);  // llama.cpp's fudge factor
      const float id = 1 / d;
      for (int ib = 0; ib < 8; ib += 2) {
        const int l1 = std::max(0, std::min(15, nearest_int(0.5f * (id * scales[ib] - 1))));
        const int l2 = std::max(0, std::min(15, nearest_int(0.5f * (id * scales[ib + 1] - 1))));
        b.scales[ib / 2] = uint8_t(l1 | (l2 << 4));
      }
    }
    store_block(dst, ibl, b);
  }
}

}  // namespace

const FormatTraits kIQ3_XXS{FormatId::IQ3_XXS, "iq3_xxs", kSuperBlock, sizeof(BlockIQ3_XXS), true, iq3_xxs_to_float, iq3_xxs_from_float, true};
const FormatTraits kIQ3_S{FormatId::IQ3_S, "iq3_s", kSuperBlock, sizeof(BlockIQ3_S), true, iq3_s_to_float, iq3_s_from_float, false};

}  // namespace quantlab::formats
