// IQ1_S and IQ1_M: super-blocks of 256 values in groups of 8, each group an entry of a ternary
// grid (-1, 0, 1) shifted by +-1/8: x = dl * (grid + delta).
// - IQ1_S: 8-bit index bytes in qs; per 32 values a uint16 with 3 extra index bits per group,
//   a 3-bit scale in bits 12-14 (dl = d * (2 s + 1)) and the delta sign in bit 15.
// - IQ1_M: 3 extra index bits and a delta sign per group in qh nibbles; 3-bit scales per 16
//   values; the f16 super-block scale is spread over the top nibbles of the four scale words.
// Encoding follows llama.cpp's quantize_row_iq1_s_impl / quantize_row_iq1_m_impl: per sub-block an
// exhaustive search of the two thresholds that split the sorted values into -1/0/+1 (and of the
// delta signs), groups snapped to the grid or their best neighbour, then the scales. IQ1_S needs
// an importance matrix (as in llama.cpp).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/iq_grids.hpp"
#include "src/formats/iq_lattice.hpp"
#include "quantlab/core/error.hpp"

#include <cfloat>
#include <string>

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

// The shifted ternary values of the two delta signs.
constexpr float kPlus[3] = {-1 + kIq1Delta, kIq1Delta, 1 + kIq1Delta};
constexpr float kMinus[3] = {-1 - kIq1Delta, -kIq1Delta, 1 - kIq1Delta};

// The neighbour of an off-grid group minimising sum w * (scale * values[level] - x)^2
// (llama.cpp: iq1_find_best_neighbour2); writes its levels.
int iq1_best_neighbour(const Lattice& lattice, int packed, const float* x, const float* w, float scale,
                       const float* values, int8_t* L) {
  float best_d2 = FLT_MAX;
  int best = -1;
  for (const uint16_t index : lattice.neighbours(packed)) {
    float d2 = 0;
    for (int i = 0; i < 8; ++i) {
      const float q = values[lattice.level(index, i)];
      const float diff = scale * q - x[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = index;
    }
  }
  if (best < 0) best = lattice.neighbours(packed).front();  // only NaN input gets here
  for (int i = 0; i < 8; ++i) L[i] = int8_t(lattice.level(best, i));
  return best;
}

// Indices of x in ascending order, ties in original order (llama.cpp sorts with glibc's qsort,
// a stable merge sort for arrays this small). Insertion sort stays defined for NaN too.
template <int N>
void stable_order(const float* x, int* order) {
  for (int j = 0; j < N; ++j) {
    int k = j;
    while (k > 0 && x[order[k - 1]] > x[j]) {
      order[k] = order[k - 1];
      --k;
    }
    order[k] = j;
  }
}

// Snaps the groups of 8 of a sub-block to the grid; returns whether all already were on it.
template <int Groups, class ValuesOf>
bool iq1_snap(const Lattice& lattice, const float* xb, const float* weight, float scale, ValuesOf values_of,
              int8_t* L, int* index) {
  bool all_on_grid = true;
  for (int k = 0; k < Groups; ++k) {
    const int packed = lattice.pack(L + 8 * k);
    index[k] = lattice.grid_index(packed);
    if (index[k] < 0) {
      all_on_grid = false;
      index[k] = iq1_best_neighbour(lattice, packed, xb + 8 * k, weight + 8 * k, scale, values_of(k), L + 8 * k);
    }
  }
  return all_on_grid;
}

template <int Groups, class ValuesOf>
float iq1_refit(const Lattice& lattice, const float* xb, const float* weight, float scale, ValuesOf values_of,
                const int* index) {
  float sumqx = 0, sumq2 = 0;
  for (int k = 0; k < Groups; ++k) {
    const float* values = values_of(k);
    for (int j = 0; j < 8; ++j) {
      const float w = weight[8 * k + j];
      const float q = values[lattice.level(index[k], j)];
      sumqx += w * q * xb[8 * k + j];
      sumq2 += w * q * q;
    }
  }
  return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}

void iq1_s_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (!importance) throw Error("", "importance", "iq1_s needs an importance matrix (as in llama.cpp)");
  const Lattice& lattice = iq1s_lattice();
  float scales[8], weight[32], sumx[33], sumw[33];
  int order[32], index[4];
  int8_t shifts[8], L[32];
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ1_S b{};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      const float* qw = importance + kSuperBlock * ibl + 32 * ib;
      for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      float max = std::fabs(xb[0]);
      for (int i = 1; i < 32; ++i) max = std::max(max, std::fabs(xb[i]));
      scales[ib] = 0;
      shifts[ib] = 1;
      if (max < 1e-12f) continue;
      stable_order<32>(xb, order);
      sumx[0] = sumw[0] = 0;
      for (int j = 0; j < 32; ++j) {
        const int i = order[j];
        sumx[j + 1] = sumx[j] + weight[i] * xb[i];
        sumw[j + 1] = sumw[j] + weight[i];
      }
      float best_score = -FLT_MAX, scale = max;
      int besti1 = -1, besti2 = -1, best_shift = 0;
      for (int i1 = 0; i1 <= 32; ++i1) {
        for (int i2 = i1; i2 <= 32; ++i2) {
          for (const int shift : {1, -1}) {
            const float* v = shift == 1 ? kPlus : kMinus;
            const float sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] + (sumx[32] - sumx[i2]) * v[2];
            const float sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] + (sumw[i2] - sumw[i1]) * v[1] * v[1] +
                                (sumw[32] - sumw[i2]) * v[2] * v[2];
            if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
              scale = sumqx / sumq2;
              best_score = scale * sumqx;
              besti1 = i1;
              besti2 = i2;
              best_shift = shift;
            }
          }
        }
      }
      if (besti1 < 0 || besti2 < 0 || best_shift == 0) continue;
      for (int j = 0; j < 32; ++j) L[order[j]] = int8_t(j < besti1 ? 0 : j < besti2 ? 1 : 2);
      if (scale < 0) {
        for (int j = 0; j < 32; ++j) L[j] = int8_t(2 - L[j]);
        scale = -scale;
        best_shift = -best_shift;
      }
      const float* values = best_shift == 1 ? kPlus : kMinus;
      auto values_of = [&](int) { return values; };
      if (!iq1_snap<4>(lattice, xb, weight, scale, values_of, L, index))
        scale = iq1_refit<4>(lattice, xb, weight, scale, values_of, index);
      uint16_t h = 0;
      for (int k = 0; k < 4; ++k) {
        b.qs[4 * ib + k] = uint8_t(index[k] & 255);
        h = uint16_t(h | ((index[k] >> 8) << (3 * k)));
      }
      b.qh[ib] = h;
      scales[ib] = scale;
      shifts[ib] = int8_t(best_shift);
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      const float d = max_scale / 15;
      b.d = float_to_half(d * 1.125f);  // llama.cpp's fudge factor
      const float id = 1 / d;
      for (int ib = 0; ib < 8; ++ib) {
        int l = std::max(0, std::min(7, nearest_int(0.5f * (id * scales[ib] - 1))));
        if (shifts[ib] == -1) l |= 8;
        b.qh[ib] = uint16_t(b.qh[ib] | (l << 12));
      }
    }
    store_block(dst, ibl, b);
  }
}

void iq1_m_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  const Lattice& lattice = iq1s_lattice();
  constexpr uint8_t kDeltaMasks[4] = {0x00, 0x80, 0x08, 0x88};
  // Coefficients of the closed-form sums below (v[0]-v[1] = v[1]-v[2] = -1 for both value sets).
  const float p2 = kPlus[2], m2 = kMinus[2];
  const float cp1 = kPlus[0] * kPlus[0] - kPlus[1] * kPlus[1];
  const float cp2 = kPlus[1] * kPlus[1] - kPlus[2] * kPlus[2];
  const float cm1 = kMinus[0] * kMinus[0] - kMinus[1] * kMinus[1];
  const float cm2 = kMinus[1] * kMinus[1] - kMinus[2] * kMinus[2];
  float scales[16], weight[16];
  int order[16], index[2];
  int8_t shifts[16], L[16];
  // Delta sign combination k (bit 1: first group negative, bit 0: second) gives group g's values.
  auto values_for = [](int k, int g) { return (g == 0 ? k < 2 : k % 2 == 0) ? kPlus : kMinus; };
  auto weights_of = [&](const float* xb, const float* qw, float sigma2) {
    for (int i = 0; i < 16; ++i) weight[i] = qw ? qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
  };
  for (int64_t ibl = 0; ibl < n / kSuperBlock; ++ibl) {
    const float* xbl = src + kSuperBlock * ibl;
    BlockIQ1_M b{};
    float sumx2 = 0;
    for (int i = 0; i < kSuperBlock; ++i) sumx2 += xbl[i] * xbl[i];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    float max_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      const float* xb = xbl + 16 * ib;
      weights_of(xb, importance ? importance + kSuperBlock * ibl + 16 * ib : nullptr, sigma2);
      float max = std::fabs(xb[0]);
      for (int i = 1; i < 16; ++i) max = std::max(max, std::fabs(xb[i]));
      scales[ib] = 0;
      shifts[ib] = 0;
      if (max < 1e-7f) continue;
      stable_order<16>(xb, order);
      // Prefix sums per half (the halves may use different delta signs).
      float px[2][17], pw[2][17];
      px[0][0] = px[1][0] = pw[0][0] = pw[1][0] = 0;
      for (int j = 0; j < 16; ++j) {
        const int i = order[j];
        const int h = i < 8 ? 0 : 1;
        px[h][j + 1] = px[h][j] + weight[i] * xb[i];
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + weight[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
      }
      const float txs[2] = {px[0][16], px[1][16]};
      const float tws[2] = {pw[0][16], pw[1][16]};
      float best_score = -FLT_MAX, scale = max;
      int besti1 = -1, besti2 = -1, best_k = -1;
      for (int i1 = 0; i1 <= 16; ++i1) {
        for (int i2 = i1; i2 <= 16; ++i2) {
          float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
          for (int h = 0; h < 2; ++h) {
            const float sx = px[h][i1] + px[h][i2];
            qx_p[h] = txs[h] * p2 - sx;
            qx_m[h] = txs[h] * m2 - sx;
            q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
            q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
          }
          const float sumqx[4] = {qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]};
          const float sumq2[4] = {q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]};
          for (int k = 0; k < 4; ++k) {
            if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
              scale = sumqx[k] / sumq2[k];
              best_score = scale * sumqx[k];
              besti1 = i1;
              besti2 = i2;
              best_k = k;
            }
          }
        }
      }
      if (besti1 < 0 || besti2 < 0 || best_k < 0) continue;
      for (int j = 0; j < 16; ++j) L[order[j]] = int8_t(j < besti1 ? 0 : j < besti2 ? 1 : 2);
      if (scale < 0) {
        for (int j = 0; j < 16; ++j) L[j] = int8_t(2 - L[j]);
        scale = -scale;
        best_k = 3 - best_k;
      }
      auto values_of = [&](int g) { return values_for(best_k, g); };
      if (!iq1_snap<2>(lattice, xb, weight, scale, values_of, L, index))
        scale = iq1_refit<2>(lattice, xb, weight, scale, values_of, index);
      b.qs[2 * ib] = uint8_t(index[0] & 255);
      b.qs[2 * ib + 1] = uint8_t(index[1] & 255);
      b.qh[ib] = uint8_t((index[0] >> 8) | ((index[1] >> 8) << 4));
      scales[ib] = scale;
      shifts[ib] = int8_t(best_k);
      max_scale = std::max(max_scale, scale);
    }
    if (max_scale != 0) {
      // 3-bit sub-block scales, then the super-block scale refitted to the stored levels.
      float d = max_scale / 15;
      const float id = 1 / d;
      float sumqx = 0, sumq2 = 0;
      for (int ib = 0; ib < 16; ++ib) {
        const int l = std::max(0, std::min(7, nearest_int(0.5f * (id * scales[ib] - 1))));
        b.scales[ib / 4] = uint16_t(b.scales[ib / 4] | (l << 3 * (ib % 4)));
        b.qh[ib] = uint8_t(b.qh[ib] | kDeltaMasks[shifts[ib]]);
        const float* xb = xbl + 16 * ib;
        weights_of(xb, importance ? importance + kSuperBlock * ibl + 16 * ib : nullptr, sigma2);
        for (int k = 0; k < 2; ++k) {
          const float* values = values_for(shifts[ib], k);
          const int grid = b.qs[2 * ib + k] + ((b.qh[ib] << (8 - 4 * k)) & 0x700);
          for (int j = 0; j < 8; ++j) {
            const float w = weight[8 * k + j];
            const float q = values[lattice.level(grid, j)] * float(2 * l + 1);
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
          }
        }
      }
      if (sumq2 > 0) d = sumqx / sumq2;
      const uint16_t s = float_to_half(d * 1.1125f);  // llama.cpp's fudge factor
      b.scales[0] = uint16_t(b.scales[0] | ((s & 0x000f) << 12));
      b.scales[1] = uint16_t(b.scales[1] | ((s & 0x00f0) << 8));
      b.scales[2] = uint16_t(b.scales[2] | ((s & 0x0f00) << 4));
      b.scales[3] = uint16_t(b.scales[3] | (s & 0xf000));
    }
    store_block(dst, ibl, b);
  }
}

}  // namespace

const FormatTraits kIQ1_S{FormatId::IQ1_S, "iq1_s", kSuperBlock, sizeof(BlockIQ1_S), true, iq1_s_to_float, iq1_s_from_float, true};
const FormatTraits kIQ1_M{FormatId::IQ1_M, "iq1_m", kSuperBlock, sizeof(BlockIQ1_M), true, iq1_m_to_float, iq1_m_from_float, true};

}  // namespace quantlab::formats
