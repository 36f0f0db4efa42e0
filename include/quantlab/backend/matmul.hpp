#pragma once
// Matrix products of f32 activations with weight matrices stored in any registry format.
//
// Numerics (why they are fixed): every output element is one dot product accumulated in 16 lanes
// (element k goes to lane k % 16, lanes summed by FMA in increasing k), then the lanes are summed by
// one fixed tree. Blocking, tiling, the number of tokens in the batch and the thread count change
// only which thread computes an element and when, never this sequence of roundings. So prefill and
// one-token decode give the same bits, and 1 and N threads give the same bits; the portable path
// (no SIMD) follows the same sequence and is the reference the SIMD kernels are tested against.
//
// Q4_0, Q4_1, Q5_0 and Q8_0 weights run as llama.cpp runs them: activations quantized to 8-bit
// blocks of 32, exact integer block products; Q2_K..Q6_K likewise with activations in Q8_K and
// llama.cpp's x86 order of the float steps (see src/backend/quant_dot.hpp). Every other format is
// decoded to f32 block by block (registry to_float) and multiplied as above; for the other
// quantized formats the activations are first rounded to the 8-bit format llama.cpp's CPU backend
// quantizes them to (Q8_K for most IQ types, Q8_0 for Q5_1/IQ4_NL/MXFP4), so a quantized model
// computes what it computes in llama.cpp, not a more precise variant of it.
//
// The SIMD instruction set (AVX-512, AVX2+FMA, or none) is chosen at run time and changes speed
// only; QUANTLAB_CPU=avx512|avx2|portable forces one (src/backend/cpu/kernel_table.hpp).
#include "quantlab/backend/tensor.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/formats/format.hpp"

#include <cstddef>
#include <cstdint>

namespace quantlab {

// A row-major weight matrix [rows = output features][cols = input features] in some format,
// usually pointing into a memory-mapped model file (ggml's ne[1] x ne[0]): a host Tensor.
using WeightMatrix = Tensor;

// A WeightMatrix over `rows` x `cols` values at `data`, rows packed back to back; throws if the
// format cannot be decoded or `cols` is not a multiple of its block size.
WeightMatrix make_weight_matrix(FormatId format, const void* data, int64_t rows, int64_t cols);

// y[t][r] = sum_k W[r][k] * x[t][k] for t < n_tokens; x is [n_tokens][cols], y is [n_tokens][rows].
void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// Same result bit for bit, computed without SIMD, one thread (reference for kernel tests).
void matmul_portable(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// The fixed-order dot product above, for f32 vectors (attention scores, small ops).
float dot_f32(const float* a, const float* b, int64_t n);

// Decodes `n` values of one row (starting at a block boundary) to f32.
void row_to_f32(FormatId format, const void* src, float* dst, int64_t n);

// The instruction set the kernels run on: "avx512", "avx2" or "portable".
const char* matmul_kernel_name();

}  // namespace quantlab
