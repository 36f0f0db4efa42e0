#pragma once
// The K-quant integer kernels of quant_dot.hpp on 256-bit x86 vectors (AVX2, FMA, F16C): a
// super-block's levels are unpacked into 8 registers of 32 values (value k at byte k mod 32 of
// register k / 32), multiplied with the Q8_K activations by maddubs (u8 x s8 pairs, exact: a pair
// is at most 2 * 63 * 127) and madd with the sub-block scales (exact int32 lanes), then the float
// steps of kquant_blocks.hpp's KAccum, vectorized in the same order. Used by the AVX2 and AVX-512
// tables alike (internal linkage, see lane_kernels.hpp). One super-block is unpacked once for 4
// tokens in prefill.
#include "src/backend/cpu/kquant_blocks.hpp"

#include <immintrin.h>

#include <type_traits>

namespace quantlab::cpu {
namespace {

inline float kh2f(uint16_t h) { return _cvtsh_ss(h); }

struct KRegs {
  __m256i lv[8];     // levels (u8; Q3_K: s8)
  __m256i scale[8];  // i16 scale of each byte pair of lv[c]: sub-block of the low / high 16 bytes
  __m256i min16;     // Q2_K: the 16 minimums; Q6_K: the 16 scales (i16), for madd with bsums
  __m128i min8;      // Q4_K/Q5_K: the 8 minimums (i16), for madd with 32-value sums
};

// Pair scales of the 8 registers from 16 scale bytes: register c takes byte lo(c) in its low
// half and byte hi(c) in its high half (32-value sub-blocks: c, c; 16-value ones: 2c, 2c+1).
template <bool kSigned, bool kSub32>
inline void pair_scales(__m128i bytes, __m256i* out) {
  for (int c = 0; c < 8; ++c) {
    const char lo = char(kSub32 ? c : 2 * c), hi = char(kSub32 ? c : 2 * c + 1);
    const __m128i pick = _mm_shuffle_epi8(bytes, _mm_setr_epi8(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi));
    out[c] = kSigned ? _mm256_cvtepi8_epi16(pick) : _mm256_cvtepu8_epi16(pick);
  }
}

// Q4_K/Q5_K's 12 scale bytes to 8 scales then 8 minimums (ggml's utmp rearrangement of get_scale_min_k4).
inline __m128i scales_mins_k4(const uint8_t* q) {
  uint32_t u[4];
  std::memcpy(u, q, 12);
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  const uint32_t m_lo = u[1] & kmask1;
  u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  u[2] = m_lo;
  u[0] &= kmask1;
  // bytes 0-3: scales 0-3, 4-7: scales 4-7, 8-11: mins 0-3, 12-15: mins 4-7
  return _mm_setr_epi32(int(u[0]), int(u[1]), int(u[2]), int(u[3]));
}

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i bits_at(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8(char(mask)));
}

template <class F>
inline void unpack(const typename F::Block& b, KRegs& r) {
  if constexpr (std::is_same_v<F, Q4_K> || std::is_same_v<F, Q5_K>) {
    const __m128i sm = scales_mins_k4(b.scales);
    pair_scales<false, true>(sm, r.scale);
    r.min8 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
  } else if constexpr (std::is_same_v<F, Q6_K>) {
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    pair_scales<true, false>(sc, r.scale);
    r.min16 = _mm256_cvtepi8_epi16(sc);
  } else if constexpr (std::is_same_v<F, Q2_K>) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    pair_scales<false, false>(_mm_and_si128(raw, _mm_set1_epi8(0xF)), r.scale);
    r.min16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF)));
  } else {  // Q3_K
    alignas(16) int16_t sc16[16];
    q3_k_scales(b.scales, sc16);
    int8_t bytes[16];
    for (int i = 0; i < 16; ++i) bytes[i] = int8_t(sc16[i]);
    pair_scales<true, false>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)), r.scale);
  }
  if constexpr (std::is_same_v<F, Q4_K>) {
    for (int j = 0; j < 4; ++j) {
      const __m256i q = load32(b.qs + 32 * j);
      r.lv[2 * j] = bits_at(q, 0, 0xF);
      r.lv[2 * j + 1] = bits_at(q, 4, 0xF);
    }
  } else if constexpr (std::is_same_v<F, Q5_K>) {
    const __m256i hb = load32(b.qh);
    for (int j = 0; j < 4; ++j) {
      const __m256i q = load32(b.qs + 32 * j);
      r.lv[2 * j] = _mm256_or_si256(bits_at(q, 0, 0xF), _mm256_slli_epi16(bits_at(hb, 2 * j, 1), 4));
      r.lv[2 * j + 1] = _mm256_or_si256(bits_at(q, 4, 0xF), _mm256_slli_epi16(bits_at(hb, 2 * j + 1, 1), 4));
    }
  } else if constexpr (std::is_same_v<F, Q6_K>) {
    for (int j = 0; j < 2; ++j) {
      const __m256i l1 = load32(b.ql + 64 * j), l2 = load32(b.ql + 64 * j + 32), h = load32(b.qh + 32 * j);
      r.lv[4 * j + 0] = _mm256_or_si256(bits_at(l1, 0, 0xF), _mm256_slli_epi16(bits_at(h, 0, 3), 4));
      r.lv[4 * j + 1] = _mm256_or_si256(bits_at(l2, 0, 0xF), _mm256_slli_epi16(bits_at(h, 2, 3), 4));
      r.lv[4 * j + 2] = _mm256_or_si256(bits_at(l1, 4, 0xF), _mm256_slli_epi16(bits_at(h, 4, 3), 4));
      r.lv[4 * j + 3] = _mm256_or_si256(bits_at(l2, 4, 0xF), _mm256_slli_epi16(bits_at(h, 6, 3), 4));
    }
  } else if constexpr (std::is_same_v<F, Q2_K>) {
    for (int j = 0; j < 2; ++j) {
      const __m256i q = load32(b.qs + 32 * j);
      for (int s = 0; s < 4; ++s) r.lv[4 * j + s] = bits_at(q, 2 * s, 3);
    }
  } else {  // Q3_K: low 2 bits, minus 4 where the high bit is clear
    const __m256i hm = load32(b.hmask);
    const __m256i four = _mm256_set1_epi8(4);
    for (int j = 0; j < 2; ++j) {
      const __m256i q = load32(b.qs + 32 * j);
      for (int s = 0; s < 4; ++s) {
        const __m256i level = _mm256_or_si256(bits_at(q, 2 * s, 3), _mm256_slli_epi16(bits_at(hm, 4 * j + s, 1), 2));
        r.lv[4 * j + s] = _mm256_sub_epi8(level, four);
      }
    }
  }
}

struct KAccumSimd {
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  float summs = 0.0f;
};

template <class F>
__attribute__((always_inline)) inline void kblock_token(const KRegs& r, const ActivationBlockK& x, float dw, float dminw,
                                                        KAccumSimd& a) {
  __m256i s = _mm256_setzero_si256();
  for (int c = 0; c < 8; ++c) {
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * c));
    __m256i u = r.lv[c];
    if constexpr (std::is_same_v<F, Q3_K>) {
      q = _mm256_sign_epi8(q, u);  // signed levels: |level| x (q with the level's sign)
      u = _mm256_abs_epi8(u);
    }
    s = _mm256_add_epi32(s, _mm256_madd_epi16(r.scale[c], _mm256_maddubs_epi16(u, q)));
  }
  const float d = x.d * dw;
  if constexpr (F::kJoin != MinJoin::None) {
    const float dmin = -x.d * dminw;
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
    if constexpr (F::kJoin == MinJoin::Lanes4 || F::kJoin == MinJoin::Scalar) {
      // lane i: min 2i * sum of values 64i..64i+31 + min 2i+1 * sum of the next 32 (m8[2i] + m8[2i+1])
      const __m128i sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
      const __m128i m4 = _mm_madd_epi16(r.min8, sums32);
      if constexpr (F::kJoin == MinJoin::Lanes4) {
        a.acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(m4), a.acc_m);
      } else {
        const __m128i m2 = _mm_add_epi32(m4, _mm_unpackhi_epi64(m4, m4));
        const int32_t total = _mm_cvtsi128_si32(_mm_add_epi32(m2, _mm_shuffle_epi32(m2, 1)));
        a.summs = __builtin_fmaf(dmin, float(total), a.summs);
      }
    } else {
      const __m256i m8 = _mm256_madd_epi16(r.min16, bsums);
      if constexpr (F::kJoin == MinJoin::Lanes8First) a.acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(m8), a.acc);
      else s = _mm256_sub_epi32(s, _mm256_slli_epi32(m8, 5));  // Offset32
    }
  }
  a.acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), a.acc);
}

template <class F>
inline float kfinish(const KAccumSimd& a) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(a.acc), _mm256_extractf128_ps(a.acc, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const float values = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  if constexpr (F::kJoin == MinJoin::Lanes4) {
    const __m128 m2 = _mm_add_ps(a.acc_m, _mm_movehl_ps(a.acc_m, a.acc_m));
    return values + _mm_cvtss_f32(_mm_add_ss(m2, _mm_shuffle_ps(m2, m2, 1)));
  } else if constexpr (F::kJoin == MinJoin::Scalar) {
    return values + a.summs;
  } else {
    return values;
  }
}

template <class F, int C>
void kdot_simd(const void* w, const ActivationBlockK* const* x, int64_t nb, float* out) {
  KAccumSimd a[C];
  KRegs r;
  const auto* blocks = static_cast<const typename F::Block*>(w);
  for (int64_t i = 0; i < nb; ++i) {
    unpack<F>(blocks[i], r);
    const float dw = kh2f(blocks[i].d);
    float dminw = 0.0f;
    if constexpr (F::kJoin == MinJoin::Lanes4 || F::kJoin == MinJoin::Scalar || F::kJoin == MinJoin::Lanes8First)
      dminw = kh2f(blocks[i].dmin);
    for (int t = 0; t < C; ++t) kblock_token<F>(r, x[t][i], dw, dminw, a[t]);
  }
  for (int t = 0; t < C; ++t) out[t] = kfinish<F>(a[t]);
}

template <class F>
float kdot1_simd(const void* w, const ActivationBlockK* x, int64_t nb) {
  float out;
  kdot_simd<F, 1>(w, &x, nb, &out);
  return out;
}

const KQuantDotKernels* find_kquant_dot_simd(FormatId format) {
  static const KQuantDotKernels q2{kdot1_simd<Q2_K>, kdot_simd<Q2_K, 4>};
  static const KQuantDotKernels q3{kdot1_simd<Q3_K>, kdot_simd<Q3_K, 4>};
  static const KQuantDotKernels q4{kdot1_simd<Q4_K>, kdot_simd<Q4_K, 4>};
  static const KQuantDotKernels q5{kdot1_simd<Q5_K>, kdot_simd<Q5_K, 4>};
  static const KQuantDotKernels q6{kdot1_simd<Q6_K>, kdot_simd<Q6_K, 4>};
  switch (format) {
    case FormatId::Q2_K: return &q2;
    case FormatId::Q3_K: return &q3;
    case FormatId::Q4_K: return &q4;
    case FormatId::Q5_K: return &q5;
    case FormatId::Q6_K: return &q6;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace quantlab::cpu
