// Q3_K: super-blocks of 256 values in 16 sub-blocks of 16 with signed 6-bit scales (offset 32)
// under one f16 `d`: x = d * (sc - 32) * (q - 4), q in 0..7. The low two bits of q are packed like
// Q2_K's `qs`; the third bit of value j sits in hmask[j % 32], bit j / 32. The 16 scales are
// packed into 12 bytes: low nibbles of scales 0-7 in bytes 0-7 (low half) and of 8-15 (high
// half); the two high bits of scale j in byte 8 + j%4, bits 2*(j/4).
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// The 6-bit scale of sub-block j (0..63, not yet offset).
int q3_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

void set_q3_scale(uint8_t* scales, int j, int l) {
  if (j < 8) scales[j] = uint8_t(l & 0xF);
  else scales[j - 8] = uint8_t(scales[j - 8] | ((l & 0xF) << 4));
  scales[8 + j % 4] = uint8_t(scales[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
}

void q3_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d_all = half_to_float(b.d);
    int sub = 0;
    uint8_t bit = 1;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = b.qs + 32 * half;
      for (int shift = 0; shift < 8; shift += 2, bit = uint8_t(bit << 1)) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d_all * float(q3_scale(b.scales, sub++) - 32);
          for (int l = 0; l < 16; ++l) {
            const int k = 16 * part + l;
            const int level = ((q[k] >> shift) & 3) - ((b.hmask[k] & bit) ? 0 : 4);
            *dst++ = dl * float(level);
          }
        }
      }
    }
  }
}

// Levels from the stored scales, then split into hmask and the 2-bit planes.
void finish_q3_block(const float* x, BlockQ3_K& b, int8_t* L) {
  const float d_all = half_to_float(b.d);
  for (int j = 0; j < 16; ++j) {
    const int8_t sc = int8_t(q3_scale(b.scales, j) - 32);
    const float d = d_all * float(sc);
    if (d == 0) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = int8_t(std::max(-4, std::min(3, l)) + 4);
    }
  }
  std::memset(b.hmask, 0, sizeof b.hmask);
  int m = 0;
  uint8_t hm = 1;
  for (int j = 0; j < kSuperBlock; ++j) {
    if (L[j] > 3) {
      b.hmask[m] = uint8_t(b.hmask[m] | hm);
      L[j] = int8_t(L[j] - 4);
    }
    if (++m == 32) {
      m = 0;
      hm = uint8_t(hm << 1);
    }
  }
  for (int j = 0; j < kSuperBlock; j += 128)
    for (int l = 0; l < 32; ++l)
      b.qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// llama.cpp: quantize_row_q3_K_ref.
void quantize_q3_k_plain(const float* x, void* dst, int64_t n) {
  int8_t L[kSuperBlock];
  float scales[16];
  for (int64_t i = 0; i < n / kSuperBlock; ++i, x += kSuperBlock) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = q3_scale_search(16, 4, x + 16 * j, L + 16 * j, true);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    BlockQ3_K b{};
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = int8_t(nearest_int(iscale * scales[j]));
        set_q3_scale(b.scales, j, std::max(-32, std::min(31, l)) + 32);
      }
      b.d = float_to_half(1 / iscale);
    } else {
      b.d = float_to_half(0.f);
    }
    finish_q3_block(x, b, L);
    store_block(dst, i, b);
  }
}

// llama.cpp: quantize_row_q3_K_impl (used whenever an importance matrix is given).
void quantize_q3_k_weighted(const float* x, void* dst, int64_t n, const float* importance) {
  int8_t L[kSuperBlock], Ls[16];
  float scales[16], weight[16], sw[16];
  for (int64_t i = 0; i < n / kSuperBlock; ++i, x += kSuperBlock) {
    float sumx2 = 0;
    for (int j = 0; j < kSuperBlock; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / kSuperBlock;
    for (int j = 0; j < 16; ++j) {
      const float* qw = importance + kSuperBlock * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 16; ++l) sumw += weight[l];
      sw[j] = sumw;
      scales[j] = symmetric_scale_search(16, 4, x + 16 * j, L + 16 * j, 1, weight);
    }
    BlockQ3_K b{};
    const float d_block = symmetric_scale_search(16, 32, scales, Ls, 1, sw);
    for (int j = 0; j < 16; ++j) set_q3_scale(b.scales, j, Ls[j]);
    b.d = float_to_half(d_block);
    finish_q3_block(x, b, L);
    store_block(dst, i, b);
  }
}

void q3_k_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q3_k_weighted(src, dst, n, importance);
  else quantize_q3_k_plain(src, dst, n);
}

}  // namespace

const FormatTraits kQ3_K{FormatId::Q3_K, "q3_K", kSuperBlock, sizeof(BlockQ3_K), true, q3_k_to_float, q3_k_from_float, false};

}  // namespace quantlab::formats
