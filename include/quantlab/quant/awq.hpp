#pragma once
// AWQ (Lin et al., 2023; the AutoAWQ implementation's choices): activation-aware per-input-channel
// scales for a group of linears that share an input, then a per-group clipping search.
//   scales: s = (mean|x|)^r / ((mean of |w| / group max |w|)^(1-r) + 1e-4), clamped at 1e-4 and
//   normalised by sqrt(max s * min s) ("duo scaling"), for r = 0, 1/n, ..., (n-1)/n; the r whose
//   pseudo-quantized weights Q(W·s)/s give the smallest mean squared output error wins. The caller
//   folds 1/s into whatever produced x (an RMSNorm weight or the previous linear's rows) and s into W.
//   clipping: for each output row and input group, the largest |w| is shrunk by factors 1 - i/n
//   (i < max_shrink·n); the one whose quantized group gives the smallest output error is kept and
//   the weights clamped to it.
// Quantization uses the grid given (AutoAWQ: IntGridRule::AwqMinMax, asymmetric).
//
// Both searches score a candidate by the same quantity as AutoAWQ -- the mean squared error of the
// linears' outputs -- but over *every* calibration token, through the inputs' second moments
// G = (1/N) Σ xᵀx: replacing W by W + Δ changes output r of token x by Δ_r·x, so the mean squared
// error is (1/rows) Σ_r Δ_r G Δ_rᵀ. AutoAWQ instead runs the candidates on a sample of tokens
// (4096 for the scales, 512 for clipping); G costs cols² floats whatever the number of tokens, and
// one candidate costs rows·cols² operations instead of tokens·rows·cols.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/quant/int_grid.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

struct AwqOptions {
  int n_grid = 20;              // scale ratios tried
  bool duo_scaling = true;      // divide by the weight statistic too (AutoAWQ's default)
  int clip_grid = 20;
  double max_shrink = 0.5;
};

// One linear of a group: `w` is [rows][cols] row-major, cols = the shared input width.
struct AwqLinear {
  float* w;
  int64_t rows;
};

// What AWQ needs to know about the input shared by a group of linears, over every calibration token.
struct AwqInputStats {
  int64_t cols = 0;
  std::vector<float> abs_mean;  // mean |x| per column
  std::vector<float> moments;   // G = (1/N) Σ xᵀx, row-major cols x cols, symmetric
  // The stats of x / s (s folded into the weights, 1/s into x's producer): G_ij / (s_i s_j).
  void divide_inputs(const std::vector<float>& s);
};

// Mean squared output error (1/rows) Σ_r Δ_r G Δ_rᵀ of adding delta [rows][cols] to a linear whose
// inputs have second moments G. The sum is in a fixed order: thread counts do not change it.
double awq_output_mse(ThreadPool& pool, const float* delta, int64_t rows, const AwqInputStats& x);

struct AwqScaleResult {
  std::vector<float> scales;  // cols
  double ratio = 0;           // the winning exponent
  double loss = 0;            // its mean squared output error
};

// The linears are only read. Each candidate is scored on `backend` (the weights and G are placed
// on its device once): the CPU's bits on the CPU backend for any thread count; a GPU's own order of
// sums in the products (TF32 when the backend allows it), the same bits run to run.
AwqScaleResult awq_search_scales(Backend& backend, const AwqInputStats& x, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options);
// The same on the CPU backend over `pool`.
AwqScaleResult awq_search_scales(ThreadPool& pool, const AwqInputStats& x, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options);

// Clamps w [rows][cols] group by group to the clipping threshold that minimises the group's output
// error (Backend::awq_clip). On a backend: w placed there (F32, changed in place), g the input's
// second moments G placed there (cols x cols F32).
void awq_clip(Backend& backend, Tensor& w, const Tensor& g, const IntGridSpec& grid, const AwqOptions& options);
// The same on the CPU backend over `pool`.
void awq_clip(ThreadPool& pool, float* w, int64_t rows, const AwqInputStats& x, const IntGridSpec& grid,
              const AwqOptions& options);

}  // namespace quantlab
