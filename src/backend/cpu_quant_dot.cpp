// Integer block dot products for Q4_0, Q4_1, Q5_0 and Q8_0 weights (see quant_dot.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 AVX intrinsics headers, see cpu_matmul.cpp
#endif
#include "src/backend/quant_dot.hpp"
#include "quantlab/core/half.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX2__)
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

// What each format contributes per block: 32 unsigned (or, for Q8_0, signed) levels, the scale,
// and an offset term: value_j = d * (level_j - zero) [+ m]. So
//   w . x = d*dx*sum(level*q) - d*dx*zero*sum(q) + m*dx*sum(q).
struct Unpacked {
  alignas(32) uint8_t level[32];
  float d;
  float offset;  // multiplies dx * qsum: -zero*d, or m for Q4_1
};

template <class B>
const B* block(const void* row, int64_t i) {
  return reinterpret_cast<const B*>(static_cast<const uint8_t*>(row) + size_t(i) * sizeof(B));
}

// ---- portable: lane l sums products 4l..4l+3, exactly as dpbusd ------------------------------

struct PortableLanes {
  float acc[2][8] = {};
  float offsets[2] = {};
  int64_t block = 0;
  // offsets += off_a * off_b as one FMA (written out so no compiler contraction can differ).
  void add(const uint8_t* w, bool w_signed, const ActivationBlock& x, float scale, float off_a, float off_b) {
    const int set = int(block++ & 1);
    for (int l = 0; l < 8; ++l) {
      int32_t s = 0;
      for (int k = 4 * l; k < 4 * l + 4; ++k) s += (w_signed ? int32_t(int8_t(w[k])) : int32_t(w[k])) * int32_t(x.q[k]);
      acc[set][l] = std::fma(scale, float(s), acc[set][l]);
    }
    offsets[set] = std::fma(off_a, off_b, offsets[set]);
  }
  float total() const {
    float a[8], s4[4], s2[2];
    for (int i = 0; i < 8; ++i) a[i] = acc[0][i] + acc[1][i];
    for (int i = 0; i < 4; ++i) s4[i] = a[i] + a[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    return (s2[0] + s2[1]) + (offsets[0] + offsets[1]);
  }
};

inline void unpack_nibbles(const uint8_t* qs, uint8_t* level) {
  for (int j = 0; j < 16; ++j) {
    level[j] = qs[j] & 0x0F;
    level[j + 16] = qs[j] >> 4;
  }
}

float dot_q4_0_portable(const void* w, const ActivationBlock* x, int64_t nb) {
  PortableLanes L;
  uint8_t level[32];
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ4_0>(w, i);
    unpack_nibbles(b->qs, level);
    const float d = fp16_to_f32(b->d), dd = d * x[i].d;
    L.add(level, false, x[i], dd, -8.0f * dd, float(x[i].qsum));
  }
  return L.total();
}

float dot_q4_1_portable(const void* w, const ActivationBlock* x, int64_t nb) {
  PortableLanes L;
  uint8_t level[32];
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ4_1>(w, i);
    unpack_nibbles(b->qs, level);
    const float d = fp16_to_f32(b->d), m = fp16_to_f32(b->m);
    L.add(level, false, x[i], d * x[i].d, m, x[i].s);
  }
  return L.total();
}

float dot_q5_0_portable(const void* w, const ActivationBlock* x, int64_t nb) {
  PortableLanes L;
  uint8_t level[32];
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ5_0>(w, i);
    uint32_t qh;
    std::memcpy(&qh, b->qh, 4);
    unpack_nibbles(b->qs, level);
    for (int j = 0; j < 32; ++j) level[j] = uint8_t(level[j] | (((qh >> j) & 1u) << 4));
    const float d = fp16_to_f32(b->d), dd = d * x[i].d;
    L.add(level, false, x[i], dd, -16.0f * dd, float(x[i].qsum));
  }
  return L.total();
}

float dot_q8_0_portable(const void* w, const ActivationBlock* x, int64_t nb) {
  PortableLanes L;
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ8_0>(w, i);
    L.add(reinterpret_cast<const uint8_t*>(b->qs), true, x[i], fp16_to_f32(b->d) * x[i].d, 0.0f, 0.0f);
  }
  return L.total();
}

#if QUANTLAB_QDOT_VNNI
// ---- AVX-512 VNNI (256-bit) ---------------------------------------------------------------

inline __m256i nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
  return _mm256_set_m128i(hi, lo);
}

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }  // exact, as fp16_to_f32

inline float finish(__m256 acc0, __m256 acc1, float off0, float off1) {
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  const float offsets = off0 + off1;
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1) + offsets;
}

inline __m256 lanes(__m256i u8_levels, const ActivationBlock& x, float scale, __m256 acc) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q));
  const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u8_levels, q);
  return _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(s), acc);
}

float dot_q4_0_vnni(const void* w, const ActivationBlock* x, int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  float off[2] = {0.0f, 0.0f};
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ4_0>(w, i);
    const float dd = h2f(b->d) * x[i].d;
    const int set = int(i & 1);
    acc[set] = lanes(nibbles(b->qs), x[i], dd, acc[set]);
    off[set] = std::fma(-8.0f * dd, float(x[i].qsum), off[set]);
  }
  return finish(acc[0], acc[1], off[0], off[1]);
}

float dot_q4_1_vnni(const void* w, const ActivationBlock* x, int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  float off[2] = {0.0f, 0.0f};
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ4_1>(w, i);
    const int set = int(i & 1);
    acc[set] = lanes(nibbles(b->qs), x[i], h2f(b->d) * x[i].d, acc[set]);
    off[set] = std::fma(h2f(b->m), x[i].s, off[set]);
  }
  return finish(acc[0], acc[1], off[0], off[1]);
}

float dot_q5_0_vnni(const void* w, const ActivationBlock* x, int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  float off[2] = {0.0f, 0.0f};
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ5_0>(w, i);
    uint32_t qh;
    std::memcpy(&qh, b->qh, 4);
    // Bit j of qh becomes bit 4 of byte j.
    const __m256i high = _mm256_maskz_mov_epi8(__mmask32(qh), _mm256_set1_epi8(0x10));
    const float dd = h2f(b->d) * x[i].d;
    const int set = int(i & 1);
    acc[set] = lanes(_mm256_or_si256(nibbles(b->qs), high), x[i], dd, acc[set]);
    off[set] = std::fma(-16.0f * dd, float(x[i].qsum), off[set]);
  }
  return finish(acc[0], acc[1], off[0], off[1]);
}

float dot_q8_0_vnni(const void* w, const ActivationBlock* x, int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = block<BlockQ8_0>(w, i);
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].q));
    // u8 x s8 only: |w| times q with w's sign moved onto q (q is never -128).
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq), _mm256_sign_epi8(q, wq));
    acc[i & 1] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b->d) * x[i].d), _mm256_cvtepi32_ps(s), acc[i & 1]);
  }
  // The portable path adds 0*0 to its zero offsets by FMA: still +0.
  return finish(acc[0], acc[1], 0.0f, 0.0f);
}
#endif

#if QUANTLAB_QDOT_VNNI
const QuantDotKernels kQ4_0{dot_q4_0_vnni, dot_q4_0_portable};
const QuantDotKernels kQ4_1{dot_q4_1_vnni, dot_q4_1_portable};
const QuantDotKernels kQ5_0{dot_q5_0_vnni, dot_q5_0_portable};
const QuantDotKernels kQ8_0{dot_q8_0_vnni, dot_q8_0_portable};
#else
const QuantDotKernels kQ4_0{dot_q4_0_portable, dot_q4_0_portable};
const QuantDotKernels kQ4_1{dot_q4_1_portable, dot_q4_1_portable};
const QuantDotKernels kQ5_0{dot_q5_0_portable, dot_q5_0_portable};
const QuantDotKernels kQ8_0{dot_q8_0_portable, dot_q8_0_portable};
#endif

}  // namespace

void quantize_activations(const float* x, ActivationBlock* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    float amax = 0.0f;
    for (int j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    ActivationBlock& o = out[b];
    o.qsum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      o.q[j] = int8_t(std::lround(x[j] * id));  // |x*id| <= 127 (rounding can reach 127, not 128)
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
