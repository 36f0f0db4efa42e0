// Integer block dot products for Q4_0, Q4_1, Q5_0 and Q8_0 weights (see quant_dot.hpp).
// Each format says how to turn a block into 32 levels (unsigned, or signed for Q8_0), its scale
// and its offset term; one generic kernel does the rest, for 1 token (decode) or 4 tokens at once
// (prefill: a weight block is unpacked once and used for 4 tokens), with identical per-token math.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 AVX intrinsics headers, see cpu_matmul.cpp
#endif
#include "src/backend/quant_dot.hpp"
#include "quantlab/core/half.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__F16C__)
#define QUANTLAB_QDOT_VNNI 1
#include <immintrin.h>
#endif

namespace quantlab::cpu {
namespace {

// Block layouts of the GGUF formats (ggml's block_q4_0, block_q4_1, block_q5_0, block_q8_0).
#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ8_0) == 34);

template <class B>
const B* block(const void* row, int64_t i) {
  return reinterpret_cast<const B*>(static_cast<const uint8_t*>(row) + size_t(i) * sizeof(B));
}

// value_j = d * (level_j - zero) + m, so per token x (scale dx, levels q):
//   w . x = (d*dx) * sum(level*q) + off_a * off_b, with off_a*off_b = -zero*(d*dx)*sum(q) or m*s.
struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr bool kSigned = false;
  static float scale(const Block& b) { return fp16_to_f32(b.d); }
  static void levels(const Block& b, uint8_t* l) {
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
  }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float dd) { return -8.0f * dd; }
  static float off_b(const ActivationBlock& x) { return float(x.qsum); }
};
struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr bool kSigned = false;
  static float scale(const Block& b) { return fp16_to_f32(b.d); }
  static void levels(const Block& b, uint8_t* l) {
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
  }
  template <class H> static float block_const(const Block& b, H h2f) { return h2f(b.m); }  // the minimum m
  static float off_a(float m, float) { return m; }
  static float off_b(const ActivationBlock& x) { return x.s; }
};
struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr bool kSigned = false;
  static float scale(const Block& b) { return fp16_to_f32(b.d); }
  static void levels(const Block& b, uint8_t* l) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
    for (int j = 0; j < 32; ++j) l[j] = uint8_t(l[j] | (((qh >> j) & 1u) << 4));
  }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float dd) { return -16.0f * dd; }
  static float off_b(const ActivationBlock& x) { return float(x.qsum); }
};
struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr bool kSigned = true;
  static float scale(const Block& b) { return fp16_to_f32(b.d); }
  static void levels(const Block& b, uint8_t* l) { std::memcpy(l, b.qs, 32); }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float) { return 0.0f; }
  static float off_b(const ActivationBlock&) { return 0.0f; }
};

// ---- portable: lane l sums products 4l..4l+3 (dpbusd's lanes); two accumulator sets ----------

template <class F>
float dot_portable(const void* w, const ActivationBlock* x, int64_t nb) {
  float acc[2][8] = {}, off[2] = {};
  uint8_t l[32];
  for (int64_t i = 0; i < nb; ++i) {
    const auto& b = *block<typename F::Block>(w, i);
    F::levels(b, l);
    const int set = int(i & 1);
    const float dd = F::scale(b) * x[i].d;
    for (int lane = 0; lane < 8; ++lane) {
      int32_t s = 0;
      for (int k = 4 * lane; k < 4 * lane + 4; ++k)
        s += (F::kSigned ? int32_t(int8_t(l[k])) : int32_t(l[k])) * int32_t(x[i].q[k]);
      acc[set][lane] = std::fma(dd, float(s), acc[set][lane]);
    }
    off[set] = std::fma(F::off_a(F::block_const(b, fp16_to_f32), dd), F::off_b(x[i]), off[set]);
  }
  float a[8], s4[4], s2[2];
  for (int i = 0; i < 8; ++i) a[i] = acc[0][i] + acc[1][i];
  for (int i = 0; i < 4; ++i) s4[i] = a[i] + a[i + 4];
  for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
  return (s2[0] + s2[1]) + (off[0] + off[1]);
}

template <class F>
void dot4_portable(const void* w, const ActivationBlock* const* x, int64_t nb, float* out) {
  for (int c = 0; c < 4; ++c) out[c] = dot_portable<F>(w, x[c], nb);
}

#if QUANTLAB_QDOT_VNNI
// ---- AVX-512 VNNI on 256-bit vectors --------------------------------------------------------

inline __m256i nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), _mm_and_si128(raw, mask));
}

template <class F>
inline __m256i simd_levels(const typename F::Block& b) {
  if constexpr (std::is_same_v<F, Q5_0>) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    // Bit j of qh becomes bit 4 of byte j.
    return _mm256_or_si256(nibbles(b.qs), _mm256_maskz_mov_epi8(__mmask32(qh), _mm256_set1_epi8(0x10)));
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

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }  // exact, same value as fp16_to_f32

// One block for C tokens into one accumulator set (the caller alternates sets; keeping the set a
// compile-time choice keeps the accumulators in registers).
template <class F, int C>
__attribute__((always_inline)) inline void block_step(const typename F::Block& b, const ActivationBlock* const* x,
                                                      int64_t i, __m256 (&acc)[C], float (&off)[C]) {
  const __m256i lv = simd_levels<F>(b);
  const __m256i ulv = F::kSigned ? _mm256_abs_epi8(lv) : lv;
  const float d = h2f(b.d);
  const float bc = F::block_const(b, h2f);
  for (int c = 0; c < C; ++c) {
    const ActivationBlock& xb = x[c][i];
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.q));
    if constexpr (F::kSigned) q = _mm256_sign_epi8(q, lv);  // u8 x s8: w's sign moved onto q (q != -128)
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ulv, q);
    const float dd = d * xb.d;
    acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(s), acc[c]);
    off[c] = std::fma(F::off_a(bc, dd), F::off_b(xb), off[c]);
  }
}

template <class F, int C>
void dot_vnni(const void* w, const ActivationBlock* const* x, int64_t nb, float* out) {
  __m256 acc0[C], acc1[C];
  float off0[C], off1[C];
  for (int c = 0; c < C; ++c) acc0[c] = acc1[c] = _mm256_setzero_ps(), off0[c] = off1[c] = 0.0f;
  const auto* blocks = block<typename F::Block>(w, 0);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    block_step<F, C>(blocks[i], x, i, acc0, off0);
    block_step<F, C>(blocks[i + 1], x, i + 1, acc1, off1);
  }
  if (i < nb) block_step<F, C>(blocks[i], x, i, acc0, off0);
  for (int c = 0; c < C; ++c) out[c] = finish(acc0[c], acc1[c], off0[c], off1[c]);
}

template <class F>
float dot1_vnni(const void* w, const ActivationBlock* x, int64_t nb) {
  float out;
  dot_vnni<F, 1>(w, &x, nb, &out);
  return out;
}

template <class F>
constexpr QuantDotKernels kernels() {
  return {dot1_vnni<F>, dot_vnni<F, 4>, dot_portable<F>};
}
#else
template <class F>
constexpr QuantDotKernels kernels() {
  return {dot_portable<F>, dot4_portable<F>, dot_portable<F>};
}
#endif

const QuantDotKernels kQ4_0 = kernels<Q4_0>();
const QuantDotKernels kQ4_1 = kernels<Q4_1>();
const QuantDotKernels kQ5_0 = kernels<Q5_0>();
const QuantDotKernels kQ8_0 = kernels<Q8_0>();

}  // namespace

void quantize_activations(const float* x, ActivationBlock* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    float amax = 0.0f;
    for (int j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    // As llama.cpp's x86 quantize_row_q8_0/q8_1: id = 127/amax (not 1/d) and round half to even
    // (_mm256_round_ps). The rounding rule is not a detail: on ffn_down's outlier-heavy inputs,
    // round-half-away moved a Q8_0 model's perplexity by 0.1 % against llama.cpp's.
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    ActivationBlock& o = out[b];
    o.qsum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      const float v = x[j] * id;
      o.q[j] = int8_t(std::nearbyint(v));
      o.qsum += o.q[j];
    }
    o.d = fp16_to_f32(f32_to_fp16(d));
    o.s = fp16_to_f32(f32_to_fp16(d * float(o.qsum)));
  }
}

const QuantDotKernels* find_quant_dot(FormatId format) {
  switch (format) {
    case FormatId::Q4_0: return &kQ4_0;
    case FormatId::Q4_1: return &kQ4_1;
    case FormatId::Q5_0: return &kQ5_0;
    case FormatId::Q8_0: return &kQ8_0;
    default: return nullptr;
  }
}

}  // namespace quantlab::cpu
