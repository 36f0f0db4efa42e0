#pragma once
// The CPU kernels that exist once per instruction set (portable, AVX2+FMA, AVX-512), gathered in
// one table per set; the dispatcher (simd_path.cpp) picks the table once, at run time, from cpuid
// or the QUANTLAB_CPU variable. Every table computes the same bits: the numbers are fixed by the
// contracts in include/quantlab/backend/matmul.hpp and src/backend/quant_dot.hpp, the instruction
// set only decides how fast they come.
#include "quantlab/formats/format.hpp"
#include "src/backend/quant_dot.hpp"

#include <cstdint>

namespace quantlab::cpu {

// How an f32 register tile reads its weight rows: f32 (in place or from the decoded scratch) or
// f16/bf16 widened on load.
enum class TileSource { F32 = 0, F16 = 1, BF16 = 2 };
constexpr int kTileSources = 3;
constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;
constexpr int kLanes = 16;

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
using TileFn = void (*)(const TileArgs&);

struct KernelTable {
  const char* name;
  // tiles[source][rows - 1][tokens - 1]
  TileFn tiles[kTileSources][kTileRows][kTileTokens];
  // The fixed-order f32 dot product of matmul.hpp.
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // n 16-bit floats widened to f32 (exact).
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  // Attention's two products (ops.hpp): scores[j] = scale * sum_d q[d] * keys_t[d][j], and
  // out[d] = sum_j p[j] * values[j][d], each one FMA chain in increasing d (resp. j).
  void (*attention_scores)(const float* q, const float* keys_t, int64_t ctx_stride, int64_t head_dim, int64_t n,
                           float scale, float* scores);
  void (*attention_values)(const float* p, const float* values, int64_t v_stride, int64_t head_dim, int64_t n,
                           float* out);
  // Integer block kernels of a weight format, null when it has none (then decoded to f32).
  const QuantDotKernels* (*quant_dot)(FormatId format);
  // quantize_activations (quant_dot.hpp), the same bits on every path.
  void (*quantize_q8)(const float* x, ActivationBlock* out, int64_t n);
  // Integer kernels of the K-quant formats against Q8_K activations, null when none.
  const KQuantDotKernels* (*kquant_dot)(FormatId format);
};

// The tables each instruction-set translation unit provides; null where the build lacks it
// (another architecture). Calling into one is only safe once simd_path_supported() said so.
const KernelTable* portable_kernels();
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

enum class SimdPath { Portable, Avx2, Avx512 };

const char* simd_path_name(SimdPath path);
// Whether this build has the path and this CPU can run it.
bool simd_path_supported(SimdPath path);
// The path in use: QUANTLAB_CPU=avx512|avx2|portable when set (an error if the CPU lacks it),
// else the fastest the CPU supports. Chosen on first use.
SimdPath simd_path();
// Switches every later kernel call to `path` (tests and benchmarks); throws if unsupported.
// Not for use while kernels run on other threads.
void force_simd_path(SimdPath path);
// The table of the path in use.
const KernelTable& kernels();

}  // namespace quantlab::cpu
