#pragma once
// Group-wise integer quantization (the grid of GPTQ/AWQ exports): a row's group of values is
// stored as codes q in [0, 2^bits - 1] with w ≈ scale * (q - zero). Parameter fitting follows
// AutoGPTQ's min/max rule (the range always contains 0; symmetric puts zero at 2^(bits-1)), so
// RTN and GPTQ results are comparable with theirs.
#include "quantlab/quant/int_grid_math.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

class ThreadPool;

struct IntGridSpec {
  int bits = 4;          // 2, 3, 4 or 8
  int64_t group_size = 128;  // columns per group; <= 0 means one group per row (per-channel)
  bool symmetric = false;
  IntGridRule rule = IntGridRule::AutoGptq;  // AwqMinMax is asymmetric only
  int max_code() const { return (1 << bits) - 1; }
};

IntGroupParams fit_int_params(const float* values, int64_t n, int64_t stride, const IntGridSpec& spec);

// A weight matrix [rows, cols] quantized group-wise. Groups run along the input dimension (cols);
// with act-order, column c belongs to group g_idx[c] (not necessarily c / group_size).
struct IntQuantizedMatrix {
  int64_t rows = 0, cols = 0;
  IntGridSpec spec;
  int64_t n_groups = 0;
  std::vector<uint8_t> codes;         // rows * cols, row-major
  std::vector<IntGroupParams> params; // rows * n_groups
  std::vector<int32_t> g_idx;         // cols

  float value(int64_t r, int64_t c) const {
    return dequantize_code(codes[size_t(r * cols + c)], params[size_t(r * n_groups + g_idx[size_t(c)])]);
  }
  std::vector<float> dequantize() const;  // rows * cols
  // Rows [r0, r1) of dequantize() into out[(r - r0) * cols ...].
  void dequantize_rows(int64_t r0, int64_t r1, float* out) const;
};

// Round-to-nearest: fit each group's params on the weights and round.
// Rows split across `pool` when one is given (the same bits).
IntQuantizedMatrix quantize_rtn(const float* w, int64_t rows, int64_t cols, const IntGridSpec& spec,
                                ThreadPool* pool = nullptr);

}  // namespace quantlab
