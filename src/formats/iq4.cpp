// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of 16 int8 values.
// IQ4_NL: blocks of 32 with one f16 scale (x = d * table[q]), nibbles laid out as Q4_0.
// IQ4_XS: super-blocks of 256 in 8 sub-blocks of 32, each with a 6-bit scale offset by 32 (low 4
// bits in scales_l nibbles, high 2 bits in scales_h, 2 bits per sub-block) under an f16 `d`:
// x = d * (ls - 32) * table[q].
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab::formats {
namespace {

constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

void decode_nibbles(const uint8_t* qs, float dl, float* dst) {
  for (int j = 0; j < 16; ++j) {
    dst[j] = dl * float(kIq4Values[qs[j] & 0xf]);
    dst[j + 16] = dl * float(kIq4Values[qs[j] >> 4]);
  }
}

void iq4_nl_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const auto b = load_block<BlockIQ4_NL>(src, i);
    decode_nibbles(b.qs, half_to_float(b.d), dst);
  }
}

void iq4_xs_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockIQ4_XS>(src, i);
    const float d = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib, dst += 32) {
      const int ls = ((b.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b.scales_h >> 2 * ib) & 3) << 4);
      decode_nibbles(b.qs + 16 * ib, d * float(ls - 32), dst);
    }
  }
}

// Encodes `size` values (one IQ4_NL block or one IQ4_XS super-block) as llama.cpp's
// quantize_row_iq4_nl_impl does with ntry = 7 (the setting of llama-quantize with or without an
// importance matrix): per 32-value block, a least-squares scale refined over 15 candidate starts;
// for IQ4_XS the block scales are then rounded to 6 bits and the indices recomputed.
struct Iq4Encoding {
  uint16_t d = 0;
  uint16_t scales_h = 0;
  uint8_t scales_l[4] = {};
  uint8_t qs[128] = {};
};

Iq4Encoding encode_iq4(const float* x, int size, const float* importance) {
  constexpr int kTries = 7;
  const int nblocks = size / 32;
  Iq4Encoding e;
  uint8_t L[kSuperBlock];
  float scales[8], weight[32];
  float sigma2 = 0;
  for (int j = 0; j < size; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / float(size);
  e.d = float_to_half(0.f);

  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < nblocks; ++ib) {
    const float* xb = x + 32 * ib;
    uint8_t* Lb = L + 32 * ib;
    if (importance) {
      const float* qw = importance + 32 * ib;
      for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
      for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
    }
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) { amax = ax; max = xb[j]; }
    }
    if (amax < 1e-15f) {
      scales[ib] = 0;
      // llama.cpp leaves these levels untouched here; every caller overwrites them below.
      std::fill(Lb, Lb + 32, uint8_t(0));
      continue;
    }
    float d = -max / float(kIq4Values[0]);
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const int l = nearest_table_index(16, kIq4Values, id * xb[j]);
      Lb[j] = uint8_t(l);
      const float q = kIq4Values[l];
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kTries; itry <= kTries; ++itry) {
      id = float(itry + kIq4Values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const float q = kIq4Values[nearest_table_index(16, kIq4Values, id * xb[j])];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    if (std::fabs(d) > amax_scale) {
      amax_scale = std::fabs(d);
      max_scale = d;
    }
  }

  if (nblocks > 1) {
    const float d = -max_scale / 32;
    e.d = float_to_half(d);
    const float id = d != 0 ? 1 / d : 0.f;
    for (int ib = 0; ib < nblocks; ++ib) {
      int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
      const float dl = d * float(l);
      const float idl = dl != 0 ? 1 / dl : 0.f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = uint8_t(nearest_table_index(16, kIq4Values, idl * x[32 * ib + j]));
      l += 32;
      const uint8_t low = uint8_t(l & 0xf), high = uint8_t(l >> 4);
      if (ib % 2 == 0) e.scales_l[ib / 2] = low;
      else e.scales_l[ib / 2] = uint8_t(e.scales_l[ib / 2] | (low << 4));
      e.scales_h = uint16_t(e.scales_h | (high << 2 * (ib % 8)));
    }
  } else {
    e.d = float_to_half(scales[0]);
    const float id = scales[0] != 0 ? 1 / scales[0] : 0;
    for (int j = 0; j < size; ++j) L[j] = uint8_t(nearest_table_index(16, kIq4Values, id * x[j]));
  }
  for (int i = 0; i < size / 32; ++i)
    for (int j = 0; j < 16; ++j) e.qs[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  return e;
}

void iq4_nl_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  for (int64_t i = 0; i < n / 32; ++i) {
    const Iq4Encoding e = encode_iq4(src + 32 * i, 32, importance ? importance + 32 * i : nullptr);
    BlockIQ4_NL b{};
    b.d = e.d;
    std::memcpy(b.qs, e.qs, sizeof b.qs);
    store_block(dst, i, b);
  }
}

void iq4_xs_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const Iq4Encoding e = encode_iq4(src + kSuperBlock * i, kSuperBlock, importance ? importance + kSuperBlock * i : nullptr);
    BlockIQ4_XS b{};
    b.d = e.d;
    b.scales_h = e.scales_h;
    std::memcpy(b.scales_l, e.scales_l, sizeof b.scales_l);
    std::memcpy(b.qs, e.qs, sizeof b.qs);
    store_block(dst, i, b);
  }
}

}  // namespace

const FormatTraits kIQ4_NL{FormatId::IQ4_NL, "iq4_nl", 32, sizeof(BlockIQ4_NL), true, iq4_nl_to_float, iq4_nl_from_float, false};
const FormatTraits kIQ4_XS{FormatId::IQ4_XS, "iq4_xs", kSuperBlock, sizeof(BlockIQ4_XS), true, iq4_xs_to_float, iq4_xs_from_float, false};

}  // namespace quantlab::formats
