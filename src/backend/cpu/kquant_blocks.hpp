#pragma once
// The K-quant super-blocks (ggml's block_q2_K .. block_q6_K) as the integer kernels see them: 256
// levels, a scale and a minimum per 16 values, and the two f16 factors; and the portable kernel of
// quant_dot.hpp's K-quant numerics over that view. Each format also names how llama.cpp joins its
// minimum terms (MinJoin). Internal linkage, f16 through the includer's h2f (see lane_kernels.hpp).
#include "src/backend/quant_dot.hpp"

#include <cstdint>
#include <cstring>

namespace quantlab::cpu {
namespace {

#pragma pack(push, 1)
struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
#pragma pack(pop)
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// How the minimum (or offset) terms meet the value lanes, per llama.cpp's AVX2 kernel.
enum class MinJoin {
  None,         // Q3_K: levels are signed, no minimum
  Lanes4,       // Q4_K: 4 float lanes of their own, folded and added after the value lanes
  Scalar,       // Q5_K: one float, fma per super-block, added at the end
  Lanes8First,  // Q2_K: into the 8 value lanes, before that super-block's values
  Offset32,     // Q6_K: levels 0..63 stand for level-32; 32*scale*sums leave the integer lanes
};

// One super-block unpacked: value k = d * scale16[k/16] * level[k] - dmin * min16[k/16]
// (Q6_K: level[k] - 32 in place of level[k]; its min16 is its scale16).
struct KView {
  int16_t level[256];
  int16_t scale16[16];
  int16_t min16[16];
  uint16_t d, dmin;  // f16
};

// ggml's get_scale_min_k4: the 6-bit scale and minimum of sub-block j of Q4_K/Q5_K.
inline void scale_min_k4(int j, const uint8_t* q, int16_t* sc, int16_t* m) {
  if (j < 4) {
    *sc = int16_t(q[j] & 63);
    *m = int16_t(q[j + 4] & 63);
  } else {
    *sc = int16_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = int16_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Every sub-block's scale and minimum of a Q4_K/Q5_K block, each repeated for its two 16-value halves.
inline void scales_k4(const uint8_t* packed, int16_t* sc16, int16_t* min16) {
  for (int j = 0; j < 8; ++j) {
    int16_t sc, m;
    scale_min_k4(j, packed, &sc, &m);
    sc16[2 * j] = sc16[2 * j + 1] = sc;
    min16[2 * j] = min16[2 * j + 1] = m;
  }
}

struct Q2_K {
  using Block = BlockQ2_K;
  static constexpr MinJoin kJoin = MinJoin::Lanes8First;
  static void view(const Block& b, KView& v) {
    for (int k = 0; k < 256; ++k) v.level[k] = int16_t((b.qs[32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32))) & 3);
    scales(b, v.scale16, v.min16);
    v.d = b.d, v.dmin = b.dmin;
  }
  static void scales(const Block& b, int16_t* sc, int16_t* m) {
    for (int s = 0; s < 16; ++s) sc[s] = int16_t(b.scales[s] & 0xF), m[s] = int16_t(b.scales[s] >> 4);
  }
};

// Q3_K's 16 6-bit scales (stored minus 32) from its 12 bytes, as ggml unpacks them.
inline void q3_k_scales(const uint8_t* bytes, int16_t* out) {
  uint32_t aux[3];
  std::memcpy(aux, bytes, 12);
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const uint32_t w[4] = {(aux[0] & kmask2) | (((aux[2] >> 0) & kmask1) << 4),
                         (aux[1] & kmask2) | (((aux[2] >> 2) & kmask1) << 4),
                         ((aux[0] >> 4) & kmask2) | (((aux[2] >> 4) & kmask1) << 4),
                         ((aux[1] >> 4) & kmask2) | (((aux[2] >> 6) & kmask1) << 4)};
  for (int s = 0; s < 16; ++s) out[s] = int16_t(int((w[s / 4] >> (8 * (s % 4))) & 0xFF) - 32);
}

struct Q3_K {
  using Block = BlockQ3_K;
  static constexpr MinJoin kJoin = MinJoin::None;
  static void view(const Block& b, KView& v) {
    for (int k = 0; k < 256; ++k) {
      const int j = k / 128, s = (k % 128) / 32, l = k % 32;
      const int low = (b.qs[32 * j + l] >> (2 * s)) & 3;
      const bool high = (b.hmask[l] >> (4 * j + s)) & 1;
      v.level[k] = int16_t(low - (high ? 0 : 4));
    }
    scales(b, v.scale16, v.min16);
    v.d = b.d, v.dmin = 0;
  }
  static void scales(const Block& b, int16_t* sc, int16_t* m) {
    q3_k_scales(b.scales, sc);
    for (int s = 0; s < 16; ++s) m[s] = 0;
  }
};

struct Q4_K {
  using Block = BlockQ4_K;
  static constexpr MinJoin kJoin = MinJoin::Lanes4;
  static void view(const Block& b, KView& v) {
    for (int k = 0; k < 256; ++k) {
      const uint8_t byte = b.qs[32 * (k / 64) + k % 32];
      v.level[k] = int16_t((k % 64) < 32 ? byte & 0xF : byte >> 4);
    }
    scales(b, v.scale16, v.min16);
    v.d = b.d, v.dmin = b.dmin;
  }
  static void scales(const Block& b, int16_t* sc16, int16_t* min16) { scales_k4(b.scales, sc16, min16); }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr MinJoin kJoin = MinJoin::Scalar;
  static void view(const Block& b, KView& v) {
    for (int k = 0; k < 256; ++k) {
      const int sub = k / 32, l = k % 32;
      const uint8_t byte = b.qs[32 * (k / 64) + l];
      const int low = (sub % 2 == 0) ? byte & 0xF : byte >> 4;
      v.level[k] = int16_t(low + (((b.qh[l] >> sub) & 1) << 4));
    }
    scales(b, v.scale16, v.min16);
    v.d = b.d, v.dmin = b.dmin;
  }
  static void scales(const Block& b, int16_t* sc16, int16_t* min16) { scales_k4(b.scales, sc16, min16); }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr MinJoin kJoin = MinJoin::Offset32;
  static void view(const Block& b, KView& v) {
    for (int k = 0; k < 256; ++k) {
      const int j = k / 128, part = (k % 128) / 32, l = k % 32;
      const uint8_t ql = b.ql[64 * j + 32 * (part % 2) + l];
      const int low = part < 2 ? ql & 0xF : ql >> 4;
      const int high = (b.qh[32 * j + l] >> (2 * part)) & 3;
      v.level[k] = int16_t(low | (high << 4));
    }
    scales(b, v.scale16, v.min16);
    v.d = b.d, v.dmin = 0;
  }
  static void scales(const Block& b, int16_t* sc, int16_t* m) {
    for (int s = 0; s < 16; ++s) sc[s] = m[s] = b.scales[s];
  }
};

// The float steps shared by the portable and SIMD kernels, given a super-block's integer lanes
// (values `s`, minimum pairs `m8`: lane l = min16[2l]*bsum[2l] + min16[2l+1]*bsum[2l+1]).
struct KAccum {
  float acc[8] = {};
  float acc_m[4] = {};
  float summs = 0.0f;

  template <MinJoin J>
  void add(float d, float dmin, int32_t* s, const int32_t* m8) {
    if constexpr (J == MinJoin::Lanes4) {
      for (int i = 0; i < 4; ++i) acc_m[i] = __builtin_fmaf(dmin, float(m8[2 * i] + m8[2 * i + 1]), acc_m[i]);
    } else if constexpr (J == MinJoin::Scalar) {
      int32_t total = 0;
      for (int i = 0; i < 8; ++i) total += m8[i];
      summs = __builtin_fmaf(dmin, float(total), summs);
    } else if constexpr (J == MinJoin::Lanes8First) {
      for (int i = 0; i < 8; ++i) acc[i] = __builtin_fmaf(dmin, float(m8[i]), acc[i]);
    } else if constexpr (J == MinJoin::Offset32) {
      for (int i = 0; i < 8; ++i) s[i] -= m8[i] * 32;
    }
    for (int i = 0; i < 8; ++i) acc[i] = __builtin_fmaf(d, float(s[i]), acc[i]);
  }

  template <MinJoin J>
  float finish() const {
    float s4[4], s2[2];
    for (int i = 0; i < 4; ++i) s4[i] = acc[i] + acc[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    const float values = s2[0] + s2[1];
    if constexpr (J == MinJoin::Lanes4) return values + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
    else if constexpr (J == MinJoin::Scalar) return values + summs;
    else return values;
  }
};

template <class F, class H>
float kdot_portable(const void* w, const ActivationBlockK* x, int64_t nb, H h2f) {
  KAccum a;
  KView v;
  const auto* blocks = static_cast<const typename F::Block*>(w);
  for (int64_t i = 0; i < nb; ++i) {
    F::view(blocks[i], v);
    int32_t s[8] = {}, m8[8];
    for (int k = 0; k < 256; ++k) s[(k % 32) / 4] += int32_t(v.scale16[k / 16]) * v.level[k] * x[i].q[k];
    for (int l = 0; l < 8; ++l)
      m8[l] = int32_t(v.min16[2 * l]) * x[i].bsums[2 * l] + int32_t(v.min16[2 * l + 1]) * x[i].bsums[2 * l + 1];
    const float d = x[i].d * h2f(v.d);
    const float dmin = -x[i].d * h2f(v.dmin);
    a.add<F::kJoin>(d, dmin, s, m8);
  }
  return a.finish<F::kJoin>();
}

}  // namespace
}  // namespace quantlab::cpu
