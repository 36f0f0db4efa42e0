#pragma once
// Dot products of quantized weight rows with activations quantized to 8 bits, the way llama.cpp
// runs its 32-value block formats: the activation row is cut into blocks of 32 with one scale
// (amax/127) each, and every block product is an exact integer sum scaled once. Private to the
// CPU backend; cpu_matmul.cpp uses these for every format that has one.
//
// Numerics (fixed, as for the f32 kernels): the integer products of a block are summed in 8 lanes
// of 4 consecutive values (the lanes of VNNI's dpbusd); each lane is scaled and accumulated in
// float by FMA into one of two accumulator sets (even and odd blocks, two chains in flight); the
// per-block offset terms go to two scalars the same way. At the end: sets added, lanes summed by
// one fixed tree, offsets added. The portable path does exactly this. Every instruction set's
// kernels (src/backend/cpu/kernels_*.cpp, reached through kernel_table.hpp) compute these bits.
#include "quantlab/formats/format.hpp"

#include <cstdint>

namespace quantlab::cpu {

constexpr int kQ8Block = 32;

// Scales are rounded to f16 as in llama.cpp's block_q8_0 / block_q8_1, so the same weights give
// the same numbers as there as nearly as possible.
struct ActivationBlock {
  float d;         // scale (an f16 value): value = d * q
  float s;         // f16(d_f32 * sum q): the block sum Q4_1's minimum multiplies (ggml's q8_1 s)
  int32_t qsum;    // sum of q
  int8_t q[kQ8Block];
};

// Quantizes n values (a multiple of 32) into n/32 blocks.
void quantize_activations(const float* x, ActivationBlock* out, int64_t n);

// y = sum over the n_blocks blocks of w_row . x.
using QuantRowDot = float (*)(const void* w_row, const ActivationBlock* x, int64_t n_blocks);

// out[c] = w_row . x[c] for 4 tokens at once, each bit-identical to QuantRowDot on that token.
using QuantRowDot4 = void (*)(const void* w_row, const ActivationBlock* const* x, int64_t n_blocks, float* out);

struct QuantDotKernels {
  QuantRowDot dot;
  QuantRowDot4 dot4;
};

// ---- K-quant weights (Q2_K..Q6_K) against activations in llama.cpp's Q8_K -----------------------
//
// Numerics (fixed; those of llama.cpp's x86 AVX2 kernels ggml_vec_dot_qN_K_q8_K, which its AVX-512
// builds run too, so a K-quant model computes here what it computes there): per super-block of 256,
// the integer products level*q times the sub-block scale are summed exactly into 8 int32 lanes, lane
// l taking values k with (k mod 32) / 4 == l; the lanes are scaled by d = x.d * w.d and accumulated
// by FMA into 8 float lanes (one set, super-blocks in order). The minimum terms (integer sums of
// sub-block minimum * 16-value activation sums) join per format as llama.cpp joins them: Q4_K in 4
// lanes of their own, Q5_K as one scalar FMA chain, Q2_K into the 8 lanes before the values, Q6_K
// (its offset 32) subtracted from the integer lanes. At the end: the 8 lanes summed by the fixed
// tree of the other kernels, then the minimum part added. The portable path does exactly this.

constexpr int kQ8KBlock = 256;

// ggml's block_q8_K, as the format registry's Q8_K encoder writes it.
struct ActivationBlockK {
  float d;
  int8_t q[kQ8KBlock];
  int16_t bsums[kQ8KBlock / 16];  // sums of 16 consecutive q
};
static_assert(sizeof(ActivationBlockK) == 292);

// Quantizes n values (a multiple of 256) to Q8_K (llama.cpp's quantize_row_q8_K).
void quantize_activations_k(const float* x, ActivationBlockK* out, int64_t n);

using KQuantRowDot = float (*)(const void* w_row, const ActivationBlockK* x, int64_t n_blocks);
using KQuantRowDot4 = void (*)(const void* w_row, const ActivationBlockK* const* x, int64_t n_blocks, float* out);

struct KQuantDotKernels {
  KQuantRowDot dot;
  KQuantRowDot4 dot4;
};

}  // namespace quantlab::cpu
