// CPU matmul: register tiles of up to 4 weight rows x 4 tokens, blocked over rows (per thread) and
// over the input dimension (so a weight block stays in L2 while every token of the batch uses it).
// F32 weights, and F16/BF16 weights at small batch sizes, are read in place (conversion fused into
// the load: decode streams each weight once); other formats, and F16/BF16 for larger batches, are
// decoded block by block into a per-thread f32 scratch that all tokens then share.
// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_*(), which its own
// -Wmaybe-uninitialized then reports after inlining; the values are fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "src/backend/quant_dot.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define QUANTLAB_MATMUL_AVX512 1
#include <immintrin.h>
#endif

namespace quantlab {
namespace {

constexpr int kLanes = 16;
constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;
constexpr int64_t kRowBlock = 64;          // rows decoded/processed together by one thread
constexpr int64_t kThreadRowUnit = 16;     // granularity of the split of rows across threads
constexpr int64_t kKBlock = 512;           // input-dimension block for large batches (multiple of 256)
constexpr int64_t kConvertMinTokens = 8;   // from this batch size on, F16/BF16 go through scratch
constexpr int64_t kSerialWork = 1 << 18;   // multiply-adds below which threading costs more than it saves

// ---------------------------------------------------------------------------------------------
// Lane arithmetic: the portable version and the AVX-512 version perform the same operations in
// the same order (fused multiply-add per lane, then the same summation tree).

struct PortableArch {
  struct V {
    float v[kLanes];
  };
  static V zero() {
    V r;
    for (float& f : r.v) f = 0.0f;
    return r;
  }
  static V fma(const V& a, const V& b, V c) {
    for (int i = 0; i < kLanes; ++i) c.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
    return c;
  }
  static V load_f32(const float* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = p[i];
    return r;
  }
  static V load_f16(const uint16_t* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = fp16_to_f32(p[i]);
    return r;
  }
  static V load_bf16(const uint16_t* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = bf16_to_f32(p[i]);
    return r;
  }
  static void store(float* p, const V& a) { std::memcpy(p, a.v, sizeof(a.v)); }
  static void pin(V&) {}
  static float hsum(const V& a) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; ++i) s8[i] = a.v[i] + a.v[i + 8];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
  }
};

#if QUANTLAB_MATMUL_AVX512
struct Avx512Arch {
  using V = __m512;
  // (maskz_ forms of the intrinsics below: the plain ones trip GCC 12's maybe-uninitialized.)
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static __mmask16 mask(int n) { return __mmask16((1u << n) - 1u); }
  static V load_f32(const float* p) { return _mm512_loadu_ps(p); }
  static V load_f32(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static V load_f16(const uint16_t* p) { return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static V load_f16(const uint16_t* p, int n) { return _mm512_maskz_cvtph_ps(0xffff, _mm256_maskz_loadu_epi16(mask(n), p)); }
  static V widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static V load_bf16(const uint16_t* p) { return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static V load_bf16(const uint16_t* p, int n) { return widen_bf16(_mm256_maskz_loadu_epi16(mask(n), p)); }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
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
using FastArch = Avx512Arch;
#else
using FastArch = PortableArch;
#endif

// How a tile reads its weight rows: f32 in place (or from scratch), or f16/bf16 converted on load.
enum class Src { F32, F16, BF16 };

template <class A, Src S>
inline typename A::V load_w(const void* row, int64_t k) {
  if constexpr (S == Src::F32) return A::load_f32(static_cast<const float*>(row) + k);
  else if constexpr (S == Src::F16) return A::load_f16(static_cast<const uint16_t*>(row) + k);
  else return A::load_bf16(static_cast<const uint16_t*>(row) + k);
}
template <class A, Src S>
inline typename A::V load_w(const void* row, int64_t k, int n) {
  if constexpr (S == Src::F32) return A::load_f32(static_cast<const float*>(row) + k, n);
  else if constexpr (S == Src::F16) return A::load_f16(static_cast<const uint16_t*>(row) + k, n);
  else return A::load_bf16(static_cast<const uint16_t*>(row) + k, n);
}

// One register tile: R weight rows x C tokens over k in [0, len). `acc` (R*C*16 floats) carries
// the lane sums between input blocks; `first` starts them at zero, `last` reduces them into y.
struct TileArgs {
  const void* const* w;  // R row pointers, already at the block's first column
  const float* const* x; // C activation pointers, already at the block's first column
  int64_t len;
  float* acc;
  bool first, last;
  float* y;              // y[c * y_stride + r]
  int64_t y_stride;
};

template <class A, Src S, int R, int C>
void tile(const TileArgs& a) {
  using V = typename A::V;
  V acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = a.first ? A::zero() : A::load_f32(a.acc + (r * C + c) * kLanes);
  int64_t k = 0;
  for (; k + kLanes <= a.len; k += kLanes) {
    V xv[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = A::load_f32(a.x[c] + k);
      A::pin(xv[c]);
    }
    for (int r = 0; r < R; ++r) {
      V wv = load_w<A, S>(a.w[r], k);
      A::pin(wv);
      for (int c = 0; c < C; ++c) acc[r][c] = A::fma(wv, xv[c], acc[r][c]);
    }
  }
  if (k < a.len) {
    const int n = int(a.len - k);
    V xv[C];
    for (int c = 0; c < C; ++c) xv[c] = A::load_f32(a.x[c] + k, n);
    for (int r = 0; r < R; ++r) {
      const V wv = load_w<A, S>(a.w[r], k, n);
      for (int c = 0; c < C; ++c) acc[r][c] = A::fma(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      if (a.last) a.y[c * a.y_stride + r] = A::hsum(acc[r][c]);
      else A::store(a.acc + (r * C + c) * kLanes, acc[r][c]);
    }
}

using TileFn = void (*)(const TileArgs&);

template <class A, Src S, int R, int... C>
constexpr std::array<TileFn, sizeof...(C)> tile_row(std::integer_sequence<int, C...>) {
  return {tile<A, S, R, C + 1>...};
}
template <class A, Src S, int... R>
constexpr std::array<std::array<TileFn, kTileTokens>, sizeof...(R)> tile_table(std::integer_sequence<int, R...>) {
  return {tile_row<A, S, R + 1>(std::make_integer_sequence<int, kTileTokens>())...};
}
template <class A, Src S>
TileFn tile_fn(int r, int c) {
  static constexpr auto table = tile_table<A, S>(std::make_integer_sequence<int, kTileRows>());
  return table[size_t(r - 1)][size_t(c - 1)];
}

struct Scratch {
  std::vector<float> weights;  // decoded weight block [kRowBlock][k block]
  std::vector<float> acc;      // lane sums between input blocks
  std::vector<float> x;        // the activations' current input block [tokens][k block], padded
};

void row_to_f32_fast(FormatId format, const void* src, float* dst, int64_t n) {
#if QUANTLAB_MATMUL_AVX512
  if (format == FormatId::F16 || format == FormatId::BF16) {
    const auto* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      _mm512_storeu_ps(dst + i, format == FormatId::F16 ? Avx512Arch::load_f16(s + i) : Avx512Arch::load_bf16(s + i));
    for (; i < n; ++i) dst[i] = format == FormatId::F16 ? fp16_to_f32(s[i]) : bf16_to_f32(s[i]);
    return;
  }
#endif
  if (format == FormatId::F32) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
    return;
  }
  const auto& f = format_traits(format);
  if (!f.to_float) throw Error("", "format", "no decoder for format " + std::string(f.name));
  f.to_float(src, dst, n);
}

// Rows [r_begin, r_end) of y for all tokens.
template <class A>
void matmul_rows(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t r_begin, int64_t r_end,
                 Scratch& scratch) {
  const int64_t n = w.cols;
  const FormatId fmt = w.format;
  // Small batches read the weights where they lie (each is used once or a few times); larger
  // ones copy each block to a padded scratch first (decoding it once for all tokens, and keeping
  // rows off the 4 KiB stride at which they would evict each other from L1).
  const bool in_place = n_tokens < kConvertMinTokens &&
                        (fmt == FormatId::F32 || fmt == FormatId::F16 || fmt == FormatId::BF16);
  const Src src = !in_place || fmt == FormatId::F32 ? Src::F32 : fmt == FormatId::F16 ? Src::F16 : Src::BF16;
  const size_t elem_bytes = fmt == FormatId::F32 ? 4 : 2;
  // One input block (lane sums stay in registers) unless the batch is large and rows are long.
  const int64_t k_block = (n_tokens <= kTileTokens || n <= 2 * kKBlock) ? n : kKBlock;
  const int64_t n_token_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  const int64_t pad_stride = k_block + kLanes;  // padded row stride of the scratch copies
  if (!in_place) {
    scratch.weights.resize(size_t(kRowBlock * pad_stride));
    scratch.x.resize(size_t(n_tokens * pad_stride));
  }
  if (k_block < n)
    scratch.acc.resize(size_t(((kRowBlock + kTileRows - 1) / kTileRows) * n_token_tiles * kTileRows * kTileTokens * kLanes));

  const void* wp[kRowBlock];
  for (int64_t rb = r_begin; rb < r_end; rb += kRowBlock) {
    const int64_t nr = std::min(kRowBlock, r_end - rb);
    for (int64_t k0 = 0; k0 < n; k0 += k_block) {
      const int64_t len = std::min(k_block, n - k0);
      for (int64_t i = 0; i < nr; ++i) {
        if (in_place) {
          wp[i] = w.row(rb + i) + size_t(k0) * elem_bytes;
        } else {
          float* dst = scratch.weights.data() + i * pad_stride;
          row_to_f32_fast(fmt, w.row(rb + i) + row_bytes(fmt, k0), dst, len);
          wp[i] = dst;
        }
      }
      if (!in_place)
        for (int64_t t = 0; t < n_tokens; ++t)
          std::memcpy(scratch.x.data() + t * pad_stride, x + t * n + k0, size_t(len) * sizeof(float));
      TileArgs args{};
      args.len = len;
      args.first = k0 == 0;
      args.last = k0 + len == n;
      args.y_stride = w.rows;
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
        const int ct = int(std::min<int64_t>(kTileTokens, n_tokens - t0));
        const float* xp[kTileTokens];
        for (int c = 0; c < ct; ++c) xp[c] = in_place ? x + (t0 + c) * n + k0 : scratch.x.data() + (t0 + c) * pad_stride;
        args.x = xp;
        for (int64_t r = 0; r < nr; r += kTileRows) {
          const int cr = int(std::min<int64_t>(kTileRows, nr - r));
          args.w = wp + r;
          args.y = y + t0 * w.rows + rb + r;
          if (k_block < n)
            args.acc = scratch.acc.data() +
                       ((r / kTileRows) * n_token_tiles + t0 / kTileTokens) * (kTileRows * kTileTokens * kLanes);
          switch (src) {
            case Src::F32: tile_fn<A, Src::F32>(cr, ct)(args); break;
            case Src::F16: tile_fn<A, Src::F16>(cr, ct)(args); break;
            case Src::BF16: tile_fn<A, Src::BF16>(cr, ct)(args); break;
          }
        }
      }
    }
  }
}

thread_local Scratch tls_scratch;
thread_local std::vector<cpu::ActivationBlock> tls_quantized_x;

// Formats with integer kernels: activations quantized once, then one row dot per (row, token).
// Used at every batch size, so decode and prefill still agree bit for bit.
void matmul_quantized_rows(const WeightMatrix& w, const cpu::ActivationBlock* xq, int64_t n_tokens, float* y,
                           int64_t r_begin, int64_t r_end, cpu::QuantRowDot dot, cpu::QuantRowDot4 dot4) {
  const int64_t nb = w.cols / cpu::kQ8Block;
  // Groups of 4 tokens share each unpacked weight block; a row stays in L1 across all tokens.
  for (int64_t r = r_begin; r < r_end; ++r) {
    const uint8_t* row = w.row(r);
    int64_t t = 0;
    if (dot4)
      for (; t + 4 <= n_tokens; t += 4) {
        const cpu::ActivationBlock* xs[4] = {xq + t * nb, xq + (t + 1) * nb, xq + (t + 2) * nb, xq + (t + 3) * nb};
        float out[4];
        dot4(row, xs, nb, out);
        for (int c = 0; c < 4; ++c) y[(t + c) * w.rows + r] = out[c];
      }
    for (; t < n_tokens; ++t) y[t * w.rows + r] = dot(row, xq + t * nb, nb);
  }
}

const cpu::ActivationBlock* quantize_tokens(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t n_tokens,
                                            std::vector<cpu::ActivationBlock>& buf) {
  const int64_t nb = w.cols / cpu::kQ8Block;
  buf.resize(size_t(n_tokens * nb));
  auto run = [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) cpu::quantize_activations(x + t * w.cols, buf.data() + t * nb, w.cols);
  };
  // Each token is quantized on its own, so splitting the tokens across threads changes nothing.
  if (pool && pool->size() > 1 && n_tokens * w.cols >= (1 << 15)) pool->parallel_for(n_tokens, run);
  else run(0, n_tokens, 0);
  return buf.data();
}

// The 8-bit format llama.cpp's CPU backend quantizes activations to before multiplying them with
// weights of `format` (ggml's vec_dot_type), for formats that have no integer kernel here and are
// decoded to f32 instead. Rounding the activations the same way (then computing in f32) keeps a
// quantized model's perplexity as llama.cpp measures it: the 8-bit rounding of activations costs a
// K-quant model up to ~1 % perplexity, more than the weights' own differences between formats.
// F32 = no rounding (float and 16-bit weights: llama.cpp rounds those activations to f16/bf16
// only, which moves perplexity by far less than 0.1 %, and they are the reference side).
FormatId activation_rounding(FormatId format) {
  switch (format) {
    case FormatId::Q5_1:
    case FormatId::Q8_1:
    case FormatId::IQ4_NL:
    case FormatId::MXFP4:
      return FormatId::Q8_0;  // Q8_1's values are Q8_0's (its extra field is the block sum)
    case FormatId::Q2_K: case FormatId::Q3_K: case FormatId::Q4_K: case FormatId::Q5_K: case FormatId::Q6_K:
    case FormatId::IQ2_XXS: case FormatId::IQ2_XS: case FormatId::IQ2_S: case FormatId::IQ3_XXS:
    case FormatId::IQ3_S: case FormatId::IQ1_S: case FormatId::IQ1_M: case FormatId::IQ4_XS:
    case FormatId::TQ1_0: case FormatId::TQ2_0:
      return FormatId::Q8_K;
    default:
      return FormatId::F32;
  }
}

// x rounded through `rounding` (encode + decode, token by token) into buf; returns buf's data.
const float* round_activations(ThreadPool* pool, FormatId rounding, const float* x, int64_t n_tokens, int64_t cols,
                               std::vector<float>& buf) {
  const auto& f = format_traits(rounding);
  buf.resize(size_t(n_tokens * cols));
  auto run = [&](int64_t t0, int64_t t1, int) {
    std::vector<uint8_t> packed(row_bytes(rounding, cols));
    for (int64_t t = t0; t < t1; ++t) {
      f.from_float(x + t * cols, packed.data(), cols, nullptr);
      f.to_float(packed.data(), buf.data() + t * cols, cols);
    }
  };
  if (pool && pool->size() > 1 && n_tokens * cols >= (1 << 15)) pool->parallel_for(n_tokens, run);
  else run(0, n_tokens, 0);
  return buf.data();
}

thread_local std::vector<float> tls_rounded_x;

void check(const WeightMatrix& w) {
  if (w.empty()) throw Error("", "matmul", "empty weight matrix");
  const auto& f = format_traits(w.format);
  if (!f.to_float && w.format != FormatId::F32) throw Error("", "matmul", "no decoder for format " + std::string(f.name));
}

}  // namespace

WeightMatrix make_weight_matrix(FormatId format, const void* data, int64_t rows, int64_t cols) {
  return host_tensor(format, data, rows, cols);
}

void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  check(w);
  if (n_tokens <= 0) return;
  const int64_t units = (w.rows + kThreadRowUnit - 1) / kThreadRowUnit;
  if (const cpu::QuantDotKernels* q = cpu::find_quant_dot(w.format)) {
    const cpu::ActivationBlock* xq = quantize_tokens(&pool, w, x, n_tokens, tls_quantized_x);
    // Integer work is cheaper per weight than f32: a larger serial threshold.
    if (pool.size() == 1 || w.rows * w.cols * n_tokens < 2 * kSerialWork || units < 2) {
      matmul_quantized_rows(w, xq, n_tokens, y, 0, w.rows, q->fast, q->fast4);
      return;
    }
    pool.parallel_for(units, [&](int64_t u0, int64_t u1, int) {
      matmul_quantized_rows(w, xq, n_tokens, y, u0 * kThreadRowUnit, std::min(w.rows, u1 * kThreadRowUnit), q->fast,
                            q->fast4);
    });
    return;
  }
  if (const FormatId r = activation_rounding(w.format); r != FormatId::F32)
    x = round_activations(&pool, r, x, n_tokens, w.cols, tls_rounded_x);
  if (pool.size() == 1 || w.rows * w.cols * n_tokens < kSerialWork || units < 2) {
    matmul_rows<FastArch>(w, x, n_tokens, y, 0, w.rows, tls_scratch);
    return;
  }
  pool.parallel_for(units, [&](int64_t u0, int64_t u1, int) {
    matmul_rows<FastArch>(w, x, n_tokens, y, u0 * kThreadRowUnit, std::min(w.rows, u1 * kThreadRowUnit), tls_scratch);
  });
}

void matmul_portable(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  check(w);
  if (const cpu::QuantDotKernels* q = cpu::find_quant_dot(w.format)) {
    std::vector<cpu::ActivationBlock> buf;
    matmul_quantized_rows(w, quantize_tokens(nullptr, w, x, n_tokens, buf), n_tokens, y, 0, w.rows, q->portable, nullptr);
    return;
  }
  std::vector<float> rounded;
  if (const FormatId r = activation_rounding(w.format); r != FormatId::F32)
    x = round_activations(nullptr, r, x, n_tokens, w.cols, rounded);
  Scratch scratch;
  matmul_rows<PortableArch>(w, x, n_tokens, y, 0, w.rows, scratch);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  using A = FastArch;
  typename A::V acc = A::zero();
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) acc = A::fma(A::load_f32(a + k), A::load_f32(b + k), acc);
  if (k < n) acc = A::fma(A::load_f32(a + k, int(n - k)), A::load_f32(b + k, int(n - k)), acc);
  return A::hsum(acc);
}

void row_to_f32(FormatId format, const void* src, float* dst, int64_t n) { row_to_f32_fast(format, src, dst, n); }

const char* matmul_kernel_name() {
#if QUANTLAB_MATMUL_AVX512
  return "avx512";
#else
  return "portable";
#endif
}

}  // namespace quantlab
