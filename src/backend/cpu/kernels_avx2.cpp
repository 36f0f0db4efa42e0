// The AVX2+FMA+F16C kernels. The 16 lanes of the numerics contract are two 8-wide registers
// (lanes 0-7 and 8-15) with the same FMAs; the lane sum starts with lo + hi, which is the first
// level of the fixed tree (lane i + lane i+8), so the bits equal the portable path's.
// Compiled with -mavx2 -mfma -mf16c (CMakeLists.txt); only called where cpuid reports them.
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "src/backend/cpu/lane_kernels.hpp"
#include "src/backend/cpu/kquant_dot_x86.hpp"
#include "src/backend/cpu/quant_dot_x86.hpp"

#include <immintrin.h>

namespace quantlab::cpu {
namespace {

struct Avx2Arch {
  struct V {
    __m256 lo, hi;
  };
  static constexpr int kValueBlocks = 4;  // 8 of the 16 ymm registers hold attention's sums
  static V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static V set1(float f) { return {_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
  static V fma(V a, V b, V c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  // Lane mask for a partial load/store of n < 8 values of one half.
  static __m256i mask8(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
  }
  static int clamp8(int n) { return n < 0 ? 0 : n > 8 ? 8 : n; }
  static V load_f32(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static V load_f32(const float* p, int n) {
    return {_mm256_maskload_ps(p, mask8(clamp8(n))), _mm256_maskload_ps(p + 8, mask8(clamp8(n - 8)))};
  }
  static __m256 widen_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 widen_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static V load_f16(const uint16_t* p) { return {widen_f16(p), widen_f16(p + 8)}; }
  static V load_bf16(const uint16_t* p) { return {widen_bf16(p), widen_bf16(p + 8)}; }
  // Partial 16-bit loads go through a zeroed copy: there is no 16-bit masked load in AVX2.
  static V load_f16(const uint16_t* p, int n) {
    uint16_t buf[kLanes] = {};
    std::memcpy(buf, p, size_t(n) * 2);
    return load_f16(buf);
  }
  static V load_bf16(const uint16_t* p, int n) {
    uint16_t buf[kLanes] = {};
    std::memcpy(buf, p, size_t(n) * 2);
    return load_bf16(buf);
  }
  static void store(float* p, V a) {
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
  }
  static void store(float* p, V a, int n) {
    _mm256_maskstore_ps(p, mask8(clamp8(n)), a.lo);
    _mm256_maskstore_ps(p + 8, mask8(clamp8(n - 8)), a.hi);
  }
  static void pin(V& a) { asm("" : "+x"(a.lo), "+x"(a.hi)); }
  static float hsum(V a) {
    const __m256 s8 = _mm256_add_ps(a.lo, a.hi);
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
  }
};

// dpbusd's lanes from maddubs (u8*s8 pairs to i16) and madd with ones (pairs of i16 to i32).
// maddubs saturates at +-32767; here u8 <= 128 (|Q8_0 level|) and |s8| <= 127, so a pair is at most
// 2 * 128 * 127 = 32512: exact.
struct Avx2IntOps {
  static __m256i lanes(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }
  static __m256i q5_high(uint32_t qh) {
    // Byte j takes byte j/8 of qh, keeps bit j%8, and becomes 0x10 where it is set.
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)),
                                               _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                                  0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
  }
};

}  // namespace

const KernelTable* avx2_kernels() {
  static const KernelTable table = [] {
    KernelTable t = make_lane_table<Avx2Arch>("avx2");
    t.quant_dot = find_quant_dot_simd<Avx2IntOps>;
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
const KernelTable* avx2_kernels() { return nullptr; }
}  // namespace quantlab::cpu
#endif
