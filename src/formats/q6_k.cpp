// Q6_K: super-blocks of 256 values in 16 sub-blocks of 16 with int8 scales under one f16 `d`:
// x = d * sc * (q - 32), q in 0..63. In each 128-value half, byte l of `ql` holds the low nibbles
// of values l (low) and l+64 (high), byte l+32 those of l+32 and l+96; byte l of `qh` holds the
// two high bits of values l, l+32, l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"
#include "src/formats/scale_search.hpp"

namespace quantlab::formats {
namespace {

struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

void q6_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = half_to_float(b.d);
    for (int half = 0; half < 2; ++half, dst += 128) {
      const uint8_t* ql = b.ql + 64 * half;
      const uint8_t* qh = b.qh + 32 * half;
      const int8_t* sc = b.scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dst[l] = d * float(sc[is]) * float(q1);
        dst[l + 32] = d * float(sc[is + 2]) * float(q2);
        dst[l + 64] = d * float(sc[is + 4]) * float(q3);
        dst[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

// llama.cpp: quantize_row_q6_K_ref, and quantize_row_q6_K_impl which only passes the importance
// weights to the sub-block search.
void q6_k_from_float(const float* src, void* dst, int64_t n, const float* importance) {
  int8_t L[kSuperBlock];
  float scales[16];
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const float* x = src + kSuperBlock * i;
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      const float* qw = importance ? importance + kSuperBlock * i + 16 * ib : nullptr;
      const float scale = symmetric_scale_search(16, 32, x + 16 * ib, L + 16 * ib, 1, qw);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    BlockQ6_K b{};
    if (max_abs_scale < 1e-15f) {  // all (near) zero: an all-zero block
      store_block(dst, i, b);
      continue;
    }
    const float iscale = -128.f / max_scale;
    b.d = float_to_half(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) b.scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    const float d_all = half_to_float(b.d);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * float(b.scales[j]);
      if (d == 0) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = int8_t(std::max(-32, std::min(31, l)) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const int8_t* Lh = L + 128 * half;
      uint8_t* ql = b.ql + 64 * half;
      uint8_t* qh = b.qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = uint8_t((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
        ql[l + 32] = uint8_t((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
        qh[l] = uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
    store_block(dst, i, b);
  }
}

// The grid of one super-block (block_grid.hpp): value i is (d * sc[i / 16]) * (q - 32), as the
// decoder computes it; the offset is 0.
void q6_k_read_grid(const void* block, float* scale, float* offset, int16_t* level) {
  const auto b = load_block<BlockQ6_K>(block, 0);
  const float d = half_to_float(b.d);
  for (int i = 0; i < kSuperBlock; ++i) {
    scale[i] = d * float(b.scales[i / 16]);
    offset[i] = 0;
  }
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    int16_t* L = level + 128 * half;
    for (int l = 0; l < 32; ++l) {
      L[l] = int16_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      L[l + 32] = int16_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      L[l + 64] = int16_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      L[l + 96] = int16_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

void q6_k_write_levels(void* block, const int16_t* level) {
  auto b = load_block<BlockQ6_K>(block, 0);
  for (int half = 0; half < 2; ++half) {
    const int16_t* Lh = level + 128 * half;
    uint8_t* ql = b.ql + 64 * half;
    uint8_t* qh = b.qh + 32 * half;
    auto q = [&](int i) { return uint8_t(Lh[i] + 32); };
    for (int l = 0; l < 32; ++l) {
      ql[l] = uint8_t((q(l) & 0xF) | ((q(l + 64) & 0xF) << 4));
      ql[l + 32] = uint8_t((q(l + 32) & 0xF) | ((q(l + 96) & 0xF) << 4));
      qh[l] = uint8_t((q(l) >> 4) | ((q(l + 32) >> 4) << 2) | ((q(l + 64) >> 4) << 4) | ((q(l + 96) >> 4) << 6));
    }
  }
  store_block(block, 0, b);
}

}  // namespace

const BlockGrid kGridQ6_K{FormatId::Q6_K, kSuperBlock, -32, 31, q6_k_read_grid, q6_k_write_levels};

const FormatTraits kQ6_K{FormatId::Q6_K, "q6_K", kSuperBlock, sizeof(BlockQ6_K), true, q6_k_to_float, q6_k_from_float, false};

}  // namespace quantlab::formats
