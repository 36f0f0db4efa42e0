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

}  // namespace quantlab::cpu
