// The AVX-512 kernels: the 16 lanes of the numerics contract are one zmm register.
// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (CMakeLists.txt; plus VNNI for the
// integer kernels, which are only used where cpuid reports it); only called where cpuid allows.
// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_*(), which its own
// -Wmaybe-uninitialized then reports after inlining; the values are fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)
#include "src/backend/cpu/lane_kernels.hpp"
#include "src/backend/cpu/kquant_dot_x86.hpp"
#include "src/backend/cpu/quant_dot_x86.hpp"

#include <immintrin.h>

namespace quantlab::cpu {
namespace {

struct Avx512Arch {
  using V = __m512;
  static constexpr int kValueBlocks = 16;  // up to head_dim 256 (Gemma) in flight
  // (maskz_ forms of the intrinsics below: the plain ones trip GCC 12's maybe-uninitialized.)
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static __mmask16 mask(int n) { return __mmask16((1u << n) - 1u); }
  static V load_f32(const float* p) { return _mm512_loadu_ps(p); }
  static V load_f32(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static V load_f16(const uint16_t* p) { return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static V load_f16(const uint16_t* p, int n) { return _mm512_maskz_cvtph_ps(0xffff, _mm256_maskz_loadu_epi16(mask(n), p)); }
  static V widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static V load_bf16(const uint16_t* p) { return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static V load_bf16(const uint16_t* p, int n) { return widen_bf16(_mm256_maskz_loadu_epi16(mask(n), p)); }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
  static void store(float* p, V a, int n) { _mm512_mask_storeu_ps(p, mask(n), a); }
  // Keeps a loaded vector in a register: without this GCC folds the load into every FMA that
  // uses it, turning 8 loads per 16 FMAs into 20 and making the tile load-bound.
  static void pin(V& a) { asm("" : "+v"(a)); }
  static float hsum(V a) {
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_maskz_extractf32x8_ps(0xff, a, 1));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
  }
};

struct VnniIntOps {
  static __m256i lanes(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
  // Bit j of qh becomes bit 4 of byte j.
  static __m256i q5_high(uint32_t qh) { return _mm256_maskz_mov_epi8(__mmask32(qh), _mm256_set1_epi8(0x10)); }
};

}  // namespace

const KernelTable* avx512_kernels() {
  static const KernelTable table = [] {
    KernelTable t = make_lane_table<Avx512Arch>("avx512");
    t.quant_dot = find_quant_dot_simd<VnniIntOps>;
    t.kquant_dot = find_kquant_dot_simd;
    t.quantize_q8 = quantize_q8_simd;
    return t;
  }();
  return &table;
}

}  // namespace quantlab::cpu
#else
#include "src/backend/cpu/kernel_table.hpp"
namespace quantlab::cpu {
const KernelTable* avx512_kernels() { return nullptr; }
}  // namespace quantlab::cpu
#endif
