// Q4_K and Q5_K: super-blocks of 256 values in 8 sub-blocks of 32, each with a 6-bit scale and a
// 6-bit min (packed into 12 bytes, see pack_scale_min_k4) under the f16 `d` and `dmin`:
// x = d * sc * q - dmin * m. Q4_K stores q in 0..15 as nibbles: byte l of each 32-byte group holds
// value l of one sub-block (low) and value l of the next (high). Q5_K adds a fifth bit: bit 2k of
// qh[l] for value l of sub-block 2k, bit 2k+1 for sub-block 2k+1.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Decodes one super-block given a function returning the level of value l of sub-block j.
template <class Level>
void decode_k4(uint16_t d16, uint16_t dmin16, const uint8_t* scales, float* dst, Level level) {
  const float d = half_to_float(d16);
  const float min = half_to_float(dmin16);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, scales, &sc, &m);
    const float dl = d * float(sc);
    const float ml = min * float(m);
    for (int l = 0; l < 32; ++l) *dst++ = dl * float(level(j, l)) - ml;
  }
}

void q4_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i, dst += kSuperBlock) {
    const auto b = load_block<BlockQ4_K>(src, i);
    decode_k4(b.d, b.dmin, b.scales, dst, [&](int j, int l) {
      const uint8_t byte = b.qs[32 * (j / 2) + l];
      return (j % 2) ? byte >> 4 : byte & 0xF;
    });
  }
}

void q5_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i, dst += kSuperBlock) {
    const auto b = load_block<BlockQ5_K>(src, i);
    decode_k4(b.d, b.dmin, b.scales, dst, [&](int j, int l) {
      const uint8_t byte = b.qs[32 * (j / 2) + l];
      const int low = (j % 2) ? byte >> 4 : byte & 0xF;
      return low + ((b.qh[l] >> j) & 1 ? 16 : 0);
    });
  }
}

// Scales, mins and levels of one super-block, before packing.
struct K4Levels {
  uint8_t L[kSuperBlock];
  uint8_t scales[12];
  uint16_t d, dmin;
};

// Re-derives the levels from the stored scales; sub-blocks with a zero scale keep the levels of
// the search, as in llama.cpp.
void requantize_k4(const float* x, int nmax, K4Levels& k) {
  const float d_all = half_to_float(k.d);
  const float m_all = half_to_float(k.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, k.scales, &sc, &m);
    const float d = d_all * float(sc);
    if (d == 0) continue;
    const float dm = m_all * float(m);
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      k.L[32 * j + ii] = uint8_t(std::max(0, std::min(nmax, l)));
    }
  }
}

// llama.cpp: quantize_row_q4_K_ref / quantize_row_q5_K_ref (they differ in nmax and search range).
void search_k4_plain(const float* x, int nmax, float rmin, float rdelta, int nstep, K4Levels& k) {
  uint8_t scratch[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = affine_scale_search(32, nmax, x + 32 * j, weights, k.L + 32 * j, &mins[j], scratch, rmin, rdelta, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
    pack_scale_min_k4(j, ls, lm, k.scales);
  }
  k.d = float_to_half(max_scale / 63.f);
  k.dmin = float_to_half(max_min / 63.f);
  requantize_k4(x, nmax, k);
}

// llama.cpp: quantize_row_q4_K_impl / quantize_row_q5_K_impl with an importance matrix. Only the
// Q5_K version clamps the 6-bit scales to 63 (it matters only for degenerate inputs).
void search_k4_weighted(const float* x, const float* importance, int nmax, bool clamp_scales, K4Levels& k) {
  uint8_t scratch[32], Ls[8], Lm[8];
  float weights[32], sw[8], mins[8], scales[8];
  float sum_x2 = 0;
  for (int l = 0; l < kSuperBlock; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / kSuperBlock;
  for (int j = 0; j < 8; ++j) {
    const float* qw = importance + 32 * j;
    for (int l = 0; l < 32; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = affine_scale_search(32, nmax, x + 32 * j, weights, k.L + 32 * j, &mins[j], scratch, -0.9f, 0.05f, 36, false);
  }
  const float d_block = positive_scale_search(8, 63, scales, Ls, sw);
  const float m_block = positive_scale_search(8, 63, mins, Lm, sw);
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = clamp_scales ? std::min<uint8_t>(63, Ls[j]) : Ls[j];
    const uint8_t lm = clamp_scales ? std::min<uint8_t>(63, Lm[j]) : Lm[j];
    pack_scale_min_k4(j, ls, lm, k.scales);
  }
  k.d = float_to_half(d_block);
  k.dmin = float_to_half(m_block);
  requantize_k4(x, nmax, k);
}

void q4_k_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  K4Levels k{};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const float* x = src + kSuperBlock * i;
    if (importance) search_k4_weighted(x, importance + kSuperBlock * i, 15, false, k);
    else search_k4_plain(x, 15, -1.f, 0.1f, 20, k);
    BlockQ4_K b{};
    b.d = k.d;
    b.dmin = k.dmin;
    std::memcpy(b.scales, k.scales, 12);
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) b.qs[32 * j + l] = uint8_t(k.L[64 * j + l] | (k.L[64 * j + l + 32] << 4));
    store_block(dst, i, b);
  }
}

void q5_k_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  K4Levels k{};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const float* x = src + kSuperBlock * i;
    if (importance) search_k4_weighted(x, importance + kSuperBlock * i, 31, true, k);
    else search_k4_plain(x, 31, -0.5f, 0.1f, 15, k);
    BlockQ5_K b{};
    b.d = k.d;
    b.dmin = k.dmin;
    std::memcpy(b.scales, k.scales, 12);
    for (int j = 0; j < 4; ++j) {
      const uint8_t bit_low = uint8_t(1u << (2 * j)), bit_high = uint8_t(2u << (2 * j));
      for (int l = 0; l < 32; ++l) {
        int l1 = k.L[64 * j + l], l2 = k.L[64 * j + l + 32];
        if (l1 > 15) { l1 -= 16; b.qh[l] = uint8_t(b.qh[l] | bit_low); }
        if (l2 > 15) { l2 -= 16; b.qh[l] = uint8_t(b.qh[l] | bit_high); }
        b.qs[32 * j + l] = uint8_t(l1 | (l2 << 4));
      }
    }
    store_block(dst, i, b);
  }
}

// The grid of one Q4_K / Q5_K super-block (block_grid.hpp): value l of sub-block j is
// (d * sc_j) * level - dmin * m_j, as decode_k4 computes it.
template <class Block, class Level>
void read_k4_grid(const void* block, float* scale, float* offset, int16_t* level, Level lv) {
  const auto b = load_block<Block>(block, 0);
  const float d = half_to_float(b.d);
  const float min = half_to_float(b.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, b.scales, &sc, &m);
    const float dl = d * float(sc);
    const float ml = min * float(m);
    for (int l = 0; l < 32; ++l) {
      scale[32 * j + l] = dl;
      offset[32 * j + l] = ml;
      level[32 * j + l] = int16_t(lv(b, j, l));
    }
  }
}

void q4_k_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  read_k4_grid<BlockQ4_K>(block, scale, offset, level, [](const BlockQ4_K& b, int j, int l) {
    const uint8_t byte = b.qs[32 * (j / 2) + l];
    return (j % 2) ? byte >> 4 : byte & 0xF;
  });
}

void q5_k_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  read_k4_grid<BlockQ5_K>(block, scale, offset, level, [](const BlockQ5_K& b, int j, int l) {
    const uint8_t byte = b.qs[32 * (j / 2) + l];
    const int low = (j % 2) ? byte >> 4 : byte & 0xF;
    return low + ((b.qh[l] >> j) & 1 ? 16 : 0);
  });
}

void q4_k_write_levels(void* block, const int16_t* L) {
  auto b = load_block<BlockQ4_K>(block, 0);
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) b.qs[32 * j + l] = uint8_t(L[64 * j + l] | (L[64 * j + l + 32] << 4));
  store_block(block, 0, b);
}

void q5_k_write_levels(void* block, const int16_t* L) {
  auto b = load_block<BlockQ5_K>(block, 0);
  std::memset(b.qh, 0, sizeof b.qh);
  for (int j = 0; j < 4; ++j) {
    const uint8_t bit_low = uint8_t(1u << (2 * j)), bit_high = uint8_t(2u << (2 * j));
    for (int l = 0; l < 32; ++l) {
      int l1 = L[64 * j + l], l2 = L[64 * j + l + 32];
      if (l1 > 15) { l1 -= 16; b.qh[l] = uint8_t(b.qh[l] | bit_low); }
      if (l2 > 15) { l2 -= 16; b.qh[l] = uint8_t(b.qh[l] | bit_high); }
      b.qs[32 * j + l] = uint8_t(l1 | (l2 << 4));
    }
  }
  store_block(block, 0, b);
}

}  // namespace

const BlockGrid kGridQ4_K{FormatId::Q4_K, kSuperBlock, 0, 15, q4_k_read_grid, q4_k_write_levels};
const BlockGrid kGridQ5_K{FormatId::Q5_K, kSuperBlock, 0, 31, q5_k_read_grid, q5_k_write_levels};

const FormatTraits kQ4_K{FormatId::Q4_K, "q4_K", kSuperBlock, sizeof(BlockQ4_K), true, q4_k_to_float, q4_k_from_float, false};
const FormatTraits kQ5_K{FormatId::Q5_K, "q5_K", kSuperBlock, sizeof(BlockQ5_K), true, q5_k_to_float, q5_k_from_float, false};

}  // namespace quantlab::formats
