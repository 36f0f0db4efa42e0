#pragma once
// AWQ (Lin et al., 2023; the AutoAWQ implementation's choices): activation-aware per-input-channel
// scales for a group of linears that share an input, then a per-group clipping search.
//   scales: s = (mean|x|)^r / ((mean of |w| / group max |w|)^(1-r) + 1e-4), clamped at 1e-4 and
//   normalised by sqrt(max s * min s) ("duo scaling"), for r = 0, 1/n, ..., (n-1)/n; the r whose
//   pseudo-quantized weights Q(W·s)/s give the smallest mean squared output error wins. The caller
//   folds 1/s into whatever produced x (an RMSNorm weight or the previous linear's rows) and s into W.
//   clipping: for each output row and input group, the largest |w| is shrunk by factors 1 - i/n
//   (i < max_shrink·n); the one whose quantized group gives the smallest output error on sampled
//   tokens is kept and the weights clamped to it.
// Quantization uses the grid given (AutoAWQ: IntGridRule::AwqMinMax, asymmetric).
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/quant/int_grid.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

struct AwqOptions {
  int n_grid = 20;              // scale ratios tried
  bool duo_scaling = true;      // divide by the weight statistic too (AutoAWQ's default)
  int64_t max_search_tokens = 4096;  // tokens used to score scale candidates (strided sample)
  int clip_grid = 20;
  double max_shrink = 0.5;
  int64_t clip_tokens = 512;    // tokens used by the clipping search (AutoAWQ's n_sample_token)
};

// One linear of a group: `w` is [rows][cols] row-major, cols = the shared input width.
struct AwqLinear {
  float* w;
  int64_t rows;
};

// Every `step`-th token so that about `limit` remain (AutoAWQ's input_feat[:, 0::n // limit]).
std::vector<int64_t> strided_tokens(int64_t n_tokens, int64_t limit);

struct AwqScaleResult {
  std::vector<float> scales;  // cols
  double ratio = 0;           // the winning exponent
  double loss = 0;            // its mean squared output error
};

// x: [n_tokens][cols] inputs used for scoring; x_abs_mean: mean |x| per column over all tokens.
// The linears are only read.
AwqScaleResult awq_search_scales(ThreadPool& pool, const float* x, int64_t n_tokens, int64_t cols,
                                 const std::vector<float>& x_abs_mean, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options);

// Clamps w [rows][cols] group by group to the clipping threshold found on x [n_tokens][cols].
void awq_clip(ThreadPool& pool, float* w, int64_t rows, int64_t cols, const float* x, int64_t n_tokens,
              const IntGridSpec& grid, const AwqOptions& options);

}  // namespace quantlab
