// Q2_K: super-blocks of 256 values in 16 sub-blocks of 16. Each sub-block has a 4-bit scale and a
// 4-bit min (low and high nibble of `scales[j]`), themselves scaled by the f16 `d` and `dmin`:
// x = d * sc * q - dmin * m, q in 0..3. Byte l of each 32-byte quarter of `qs` holds values
// l, l+32, l+64, l+96 of its 128-value half in bits 0-1, 2-3, 4-5, 6-7.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

void q2_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = half_to_float(b.d);
    const float dmin = half_to_float(b.dmin);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = b.qs + 32 * half;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = b.scales[8 * half + shift + part];
          const float dl = d * float(sc & 0xF);
          const float ml = dmin * float(sc >> 4);
          for (int l = 0; l < 16; ++l) *dst++ = dl * float((q[16 * part + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void pack_q2_levels(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kSuperBlock; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Re-derives the levels from the stored (rounded) scales and mins; sub-blocks with a zero scale
// keep the levels of the search, as in llama.cpp.
void requantize_q2(const float* x, const BlockQ2_K& b, uint8_t* L) {
  const float d_all = half_to_float(b.d);
  const float m_all = half_to_float(b.dmin);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * float(b.scales[j] & 0xF);
    if (d == 0) continue;
    const float m = m_all * float(b.scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int((x[16 * j + ii] + m) / d);
      L[16 * j + ii] = uint8_t(std::max(0, std::min(3, l)));
    }
  }
}

// llama.cpp: quantize_row_q2_K_ref.
void quantize_q2_k_plain(const float* x, void* dst, int64_t n) {
  uint8_t L[kSuperBlock], scratch[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < n / kSuperBlock; ++i, x += kSuperBlock) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = affine_scale_search(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], scratch, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    BlockQ2_K b{};
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(nearest_int(iscale * scales[j]));
      b.d = float_to_half(max_scale / q4scale);
    } else {
      b.d = float_to_half(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(b.scales[j] | (nearest_int(iscale * mins[j]) << 4));
      b.dmin = float_to_half(max_min / q4scale);
    } else {
      b.dmin = float_to_half(0.f);
    }
    requantize_q2(x, b, L);
    pack_q2_levels(L, b.qs);
    store_block(dst, i, b);
  }
}

// llama.cpp: quantize_row_q2_K_impl.
void quantize_q2_k_weighted(const float* x, void* dst, int64_t n, const float* importance) {
  uint8_t L[kSuperBlock], scratch[16], Ls[16], Lm[16];
  float mins[16], scales[16], sw[16], weight[16];
  for (int64_t i = 0; i < n / kSuperBlock; ++i, x += kSuperBlock) {
    float sumx2 = 0;
    for (int j = 0; j < kSuperBlock; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / kSuperBlock;
    for (int j = 0; j < 16; ++j) {
      const float* qw = importance + kSuperBlock * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      sw[j] = 0;
      for (int l = 0; l < 16; ++l) sw[j] += weight[l];
      scales[j] = affine_scale_search(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], scratch, -0.9f, 0.05f, 36, false);
    }
    const float dm = positive_scale_search(16, 15, scales, Ls, sw);
    const float mm = positive_scale_search(16, 15, mins, Lm, sw);
    BlockQ2_K b{};
    b.d = float_to_half(dm);
    b.dmin = float_to_half(mm);
    for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
    requantize_q2(x, b, L);
    pack_q2_levels(L, b.qs);
    store_block(dst, i, b);
  }
}

void q2_k_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  if (importance) quantize_q2_k_weighted(src, dst, n, importance);
  else quantize_q2_k_plain(src, dst, n);
}

}  // namespace

const FormatTraits kQ2_K{FormatId::Q2_K, "q2_K", kSuperBlock, sizeof(BlockQ2_K), true, q2_k_to_float, q2_k_from_float, false};

}  // namespace quantlab::formats
