#pragma once
// GPTQ (Frantar et al., 2022): quantize a weight matrix column by column, pushing each column's
// rounding error onto the not-yet-quantized columns through the inverse Hessian of the layer's
// input activations, in lazy blocks of `block_size` columns.
#include "quantlab/quant/int_grid.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

class Backend;
class GptqHessian;
class ThreadPool;

struct GptqOptions {
  double damp_percent = 0.01;  // added to the diagonal, relative to its mean
  int64_t block_size = 128;    // lazy-batch width
  bool act_order = false;      // process columns by decreasing Hessian diagonal
  bool static_groups = false;  // with act_order: fit group params on the original weights first
};

struct GptqReport {
  double damp_used = 0;        // relative damping finally used (raised if H was not PD)
  int64_t dead_columns = 0;    // inputs that never saw a non-zero activation (weights zeroed)
  double loss = 0;             // Σ (w - q)² / (2 d²), GPTQ's own error measure
};

// `w`: [rows, cols] row-major (a linear's [out, in] weight); `hessian`: [cols, cols] from
// HessianAccumulator. Throws quantlab::Error for shapes that do not fit the grid. `backend` runs the
// inverse-Hessian factor and the lazy updates of the later columns (a GPU's: minutes instead of
// hours for a 70B); null means the CPU, whose result is the same bits on every machine. `pool`
// shares the host's part of the sweep out by rows (no bit changes with the thread count).
IntQuantizedMatrix gptq_quantize(const float* w, int64_t rows, int64_t cols, std::vector<double> hessian,
                                 const IntGridSpec& grid, const GptqOptions& options, GptqReport* report = nullptr,
                                 Backend* backend = nullptr, ThreadPool* pool = nullptr);
// The same with a Hessian prepared once for the linears that share an input (on the device that
// summed it; the factor is shared when the processing order is).
IntQuantizedMatrix gptq_quantize(const float* w, int64_t rows, int64_t cols, GptqHessian& hessian,
                                 const IntGridSpec& grid, const GptqOptions& options, GptqReport* report = nullptr,
                                 ThreadPool* pool = nullptr);

}  // namespace quantlab
