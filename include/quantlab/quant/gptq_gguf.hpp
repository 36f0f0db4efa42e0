#pragma once
// GPTQ whose rounding step targets a GGUF block format (Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): the result
// is the tensor's GGUF bytes, loadable by llama.cpp unchanged.
//
// Along the input dimension a weight row is cut into the format's blocks (Q4_K: super-blocks of
// 256 = 8 sub-blocks of 32 with 6-bit scales/mins under f16 d/dmin). When GPTQ's column sweep
// reaches a block, the block's parameters are fitted from the *current, error-updated* weights by
// the format's own encoder with importance = the Hessian diagonal (as llama-quantize uses an
// imatrix); then each column of the block is rounded onto those fixed parameters (the format's own
// requantization formula) and its error pushed onto the later columns through the inverse Hessian.
// Codes and parameters are written with the grid's write_levels (formats/block_grid.hpp).
//
// Exact relation to llama.cpp: with a diagonal Hessian no error is propagated, and the bytes equal
// the format encoder's with importance = diag(H) (llama-quantize with that imatrix), for the
// k-quants bit for bit (test GptqGguf.DiagonalHessianEqualsImportanceEncoding).
#include "quantlab/formats/format.hpp"
#include "quantlab/quant/gptq.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

class Backend;
class GptqHessian;
class ThreadPool;

struct GgufBlockMatrix {
  FormatId type = FormatId::F32;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> bytes;      // rows * row_bytes(type, cols): the GGUF tensor data
  std::vector<float> dequantized;  // rows * cols, row-major: exactly what `bytes` decode to
};

// Whether gptq_quantize_gguf can target the type (it has a block grid).
bool gptq_gguf_supports(FormatId type);

// `w`: [rows, cols] row-major; `hessian`: [cols, cols] (HessianAccumulator). Options as for
// integer GPTQ; act_order keeps each block's columns together (blocks by decreasing Hessian-diagonal
// sum, columns inside a block by decreasing diagonal), so that a block's parameters are fitted once,
// from up-to-date weights; static_groups is not used. The lazy-block width is rounded up to a
// multiple of the format's block. Throws Error for a type without a grid or rows that do not fit.
// `backend` and `pool` as for gptq_quantize.
GgufBlockMatrix gptq_quantize_gguf(const float* w, int64_t rows, int64_t cols, std::vector<double> hessian, FormatId type,
                                   const GptqOptions& options, GptqReport* report = nullptr, Backend* backend = nullptr,
                                   ThreadPool* pool = nullptr);
// The same with a Hessian prepared once for the linears that share an input.
GgufBlockMatrix gptq_quantize_gguf(const float* w, int64_t rows, int64_t cols, GptqHessian& hessian, FormatId type,
                                   const GptqOptions& options, GptqReport* report = nullptr, ThreadPool* pool = nullptr);

// The format's plain encoder on every row (llama-quantize's path; importance may be null), with
// the decoded values: the fallback for types without a grid, and the reference of the tests.
GgufBlockMatrix encode_gguf_matrix(const float* w, int64_t rows, int64_t cols, FormatId type, const float* importance);

}  // namespace quantlab
