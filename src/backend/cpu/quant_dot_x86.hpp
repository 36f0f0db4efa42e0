#pragma once
// The integer block kernels of quant_dot.hpp on 256-bit x86 vectors, written once over an
// integer-op policy I that supplies the two steps that differ between instruction sets:
//   I::lanes(u, s):   8 int32 lanes, lane l = sum of u8*s8 products 4l..4l+3 (dpbusd's lanes);
//   I::q5_high(qh):   byte j = 0x10 where bit j of qh is set, else 0.
// Integer sums are exact, so every policy gives the same lanes; the float steps are the portable
// kernel's (quant_blocks.hpp) in the same order. Needs AVX2, FMA and F16C; internal linkage.
#include "src/backend/cpu/quant_blocks.hpp"

#include <immintrin.h>

#include <type_traits>

namespace quantlab::cpu {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }  // exact, same value as fp16_to_f32

inline __m256i nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), _mm_and_si128(raw, mask));
}

template <class I, class F>
inline __m256i simd_levels(const typename F::Block& b) {
  if constexpr (std::is_same_v<F, Q5_0>) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return _mm256_or_si256(nibbles(b.qs), I::q5_high(qh));
  } else if constexpr (std::is_same_v<F, Q8_0>) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
  } else {
    return nibbles(b.qs);
  }
}

inline float finish(__m256 acc0, __m256 acc1, float off0, float off1) {
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1) + (off0 + off1);
}

// One block for C tokens into one accumulator set (the caller alternates sets; keeping the set a
// compile-time choice keeps the accumulators in registers).
template <class I, class F, int C>
__attribute__((always_inline)) inline void block_step(const typename F::Block& b, const ActivationBlock* const* x,
                                                      int64_t i, __m256 (&acc)[C], float (&off)[C]) {
  const __m256i lv = simd_levels<I, F>(b);
  const __m256i ulv = F::kSigned ? _mm256_abs_epi8(lv) : lv;
  const float d = h2f(b.d);
  const float bc = F::block_const(b, h2f);
  for (int c = 0; c < C; ++c) {
    const ActivationBlock& xb = x[c][i];
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.q));
    if constexpr (F::kSigned) q = _mm256_sign_epi8(q, lv);  // u8 x s8: w's sign moved onto q (q != -128)
    const __m256i s = I::lanes(ulv, q);
    const float dd = d * xb.d;
    acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(s), acc[c]);
    off[c] = __builtin_fmaf(F::off_a(bc, dd), F::off_b(xb), off[c]);
  }
}

template <class I, class F, int C>
void dot_simd(const void* w, const ActivationBlock* const* x, int64_t nb, float* out) {
  __m256 acc0[C], acc1[C];
  float off0[C], off1[C];
  for (int c = 0; c < C; ++c) acc0[c] = acc1[c] = _mm256_setzero_ps(), off0[c] = off1[c] = 0.0f;
  const auto* blocks = block<typename F::Block>(w, 0);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    block_step<I, F, C>(blocks[i], x, i, acc0, off0);
    block_step<I, F, C>(blocks[i + 1], x, i + 1, acc1, off1);
  }
  if (i < nb) block_step<I, F, C>(blocks[i], x, i, acc0, off0);
  for (int c = 0; c < C; ++c) out[c] = finish(acc0[c], acc1[c], off0[c], off1[c]);
}

template <class I, class F>
float dot1_simd(const void* w, const ActivationBlock* x, int64_t nb) {
  float out;
  dot_simd<I, F, 1>(w, &x, nb, &out);
  return out;
}

// quantize_activations with 8-wide vectors: the same scalar scale arithmetic, x * (127/amax)
// rounded half to even (vroundps, as nearbyint in the default rounding mode), f16 via F16C (round
// to nearest even, as f32_to_fp16 for every finite value).
inline void quantize_q8_simd(const float* x, ActivationBlock* out, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    const int32_t qsum = _mm_cvtsi128_si32(_mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1)));
    // int32 -> int8 (values within +-127, so the saturating packs are exact), then undo the
    // packs' 128-bit lane interleave.
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    ActivationBlock& o = out[b];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.q), p8);
    o.qsum = qsum;
    o.d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    o.s = _cvtsh_ss(_cvtss_sh(d * float(qsum), _MM_FROUND_TO_NEAREST_INT));
  }
}

template <class I>
const QuantDotKernels* find_quant_dot_simd(FormatId format) {
  static const QuantDotKernels q4_0{dot1_simd<I, Q4_0>, dot_simd<I, Q4_0, 4>};
  static const QuantDotKernels q4_1{dot1_simd<I, Q4_1>, dot_simd<I, Q4_1, 4>};
  static const QuantDotKernels q5_0{dot1_simd<I, Q5_0>, dot_simd<I, Q5_0, 4>};
  static const QuantDotKernels q8_0{dot1_simd<I, Q8_0>, dot_simd<I, Q8_0, 4>};
  switch (format) {
    case FormatId::Q4_0: return &q4_0;
    case FormatId::Q4_1: return &q4_1;
    case FormatId::Q5_0: return &q5_0;
    case FormatId::Q8_0: return &q8_0;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace quantlab::cpu
