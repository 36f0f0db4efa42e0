#include "quantlab/quant/awq.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace quantlab {
namespace {

int64_t group_width(const IntGridSpec& grid, int64_t cols) { return grid.group_size <= 0 ? cols : grid.group_size; }

void check_stats(const AwqInputStats& x) {
  if (x.cols <= 0) throw Error("awq", "inputs", "no activation statistics (the input group was never run)");
  if (int64_t(x.abs_mean.size()) != x.cols) throw Error("awq", "abs_mean", "size differs from the input width");
  if (int64_t(x.moments.size()) != x.cols * x.cols) throw Error("awq", "moments", "size differs from cols x cols");
}

IntGroupGrid group_grid(const IntGridSpec& grid, int64_t cols) {
  return {grid.max_code(), grid.symmetric, grid.rule, group_width(grid, cols)};
}

// Rows of Δ scored per matmul. A row's product with G has the same bits in any block on the CPU
// (matmul.hpp), so the block only bounds the scratch: 256 rows there, ≤ 64 MiB per block on a GPU
// (fewer, larger launches).
int64_t block_rows(const Backend& be, int64_t cols) {
  return be.device().is_cpu() ? 256 : std::max<int64_t>(256, (int64_t(64) << 20) / (4 * std::max<int64_t>(cols, 1)));
}

// Σ_r Δ_r G Δ_rᵀ over blocks of Δ's rows, in row order: (Δ G) by a matmul (G is symmetric, so it
// serves as the "weight" whose "tokens" are Δ's rows), then each row's dot product with Δ.
struct OutputError {
  Backend& be;
  const Tensor& g;
  Tensor& product;  // block x cols scratch
  double add(const Tensor& delta, double sum) const {
    Tensor y = product.row_range(0, delta.rows);
    be.matmul(g, delta, y);
    return be.sum_of_products(delta, y, sum);
  }
};

}  // namespace

void AwqInputStats::divide_inputs(const std::vector<float>& s) {
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) moments[size_t(i * cols + j)] /= s[size_t(i)] * s[size_t(j)];
  for (int64_t i = 0; i < cols; ++i) abs_mean[size_t(i)] /= s[size_t(i)];
}

double awq_output_mse(ThreadPool& pool, const float* delta, int64_t rows, const AwqInputStats& x) {
  check_stats(x);
  const int64_t cols = x.cols;
  const auto be = make_cpu_backend(pool);
  const Tensor g = host_tensor(FormatId::F32, x.moments.data(), cols, cols);
  const int64_t block = block_rows(*be, cols);
  Tensor product = be->alloc(FormatId::F32, std::min(block, std::max<int64_t>(rows, 1)), cols);
  const OutputError error{*be, g, product};
  double sum = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += block)
    sum = error.add(host_tensor(FormatId::F32, delta + r0 * cols, std::min(block, rows - r0), cols), sum);
  return rows == 0 ? 0.0 : sum / double(rows);
}

AwqScaleResult awq_search_scales(ThreadPool& pool, const AwqInputStats& x, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options) {
  const auto be = make_cpu_backend(pool);
  return awq_search_scales(*be, x, linears, grid, options);
}

AwqScaleResult awq_search_scales(Backend& be, const AwqInputStats& x, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options) {
  check_stats(x);
  const int64_t cols = x.cols;
  const int64_t gs = group_width(grid, cols);
  int64_t total_rows = 0, widest = 1;
  for (const auto& l : linears) total_rows += l.rows, widest = std::max(widest, l.rows);

  // Mean over output rows of |w| relative to its group's largest |w|.
  std::vector<double> w_mean(size_t(cols), 0.0);
  for (const auto& l : linears)
    for (int64_t r = 0; r < l.rows; ++r)
      for (int64_t g = 0; g * gs < cols; ++g) {
        const float* src = l.w + r * cols + g * gs;
        const int64_t width = std::min(gs, cols - g * gs);
        float amax = 0;
        for (int64_t i = 0; i < width; ++i) amax = std::max(amax, std::fabs(src[i]));
        for (int64_t i = 0; i < width; ++i) w_mean[size_t(g * gs + i)] += std::fabs(src[i]) / (amax + 1e-6f);
      }
  for (auto& v : w_mean) v /= double(total_rows);

  // The weights and G go to the backend's device once; each candidate is scored there, a block of
  // rows at a time (Q(W·s)/s - W, then its output error).
  const Tensor g = be.place(host_tensor(FormatId::F32, x.moments.data(), cols, cols));
  std::vector<Tensor> weights;
  for (const auto& l : linears) weights.push_back(be.place(host_tensor(FormatId::F32, l.w, l.rows, cols)));
  const int64_t block = std::min(block_rows(be, cols), widest);
  Tensor scales_dev = be.alloc(FormatId::F32, 1, cols);
  Tensor delta = be.alloc(FormatId::F32, block, cols);
  Tensor product = be.alloc(FormatId::F32, block, cols);
  const OutputError error{be, g, product};
  const IntGroupGrid groups = group_grid(grid, cols);

  AwqScaleResult best;
  best.loss = std::numeric_limits<double>::infinity();
  best.ratio = -1;
  std::vector<float> scales(static_cast<size_t>(cols));
  for (int step = 0; step < options.n_grid; ++step) {
    const double ratio = double(step) / options.n_grid;
    for (int64_t c = 0; c < cols; ++c) {
      const float xm = std::pow(x.abs_mean[size_t(c)], float(ratio));
      const float s = options.duo_scaling ? xm / (std::pow(float(w_mean[size_t(c)]), float(1 - ratio)) + 1e-4f) : xm;
      scales[size_t(c)] = std::max(s, 1e-4f);
    }
    const auto [mn, mx] = std::minmax_element(scales.begin(), scales.end());
    const float norm = std::sqrt(*mx * *mn);
    for (auto& s : scales) s /= norm;
    be.from_host(scales.data(), scales_dev);
    double sum = 0;
    for (const Tensor& w : weights)
      for (int64_t r0 = 0; r0 < w.rows; r0 += block) {
        Tensor d = delta.row_range(0, std::min(block, w.rows - r0));
        be.awq_scaled_delta(w.row_range(r0, d.rows), scales_dev, groups, d);
        sum = error.add(d, sum);
      }
    const double loss = total_rows == 0 ? 0.0 : sum / double(total_rows);
    if (loss < best.loss) {
      best.loss = loss;
      best.ratio = ratio;
      best.scales = scales;
    }
  }
  if (best.ratio < 0) throw Error("awq", "scales", "no finite loss for any scale ratio (non-finite activations?)");
  return best;
}

void awq_clip(Backend& be, Tensor& w, const Tensor& g, const IntGridSpec& grid, const AwqOptions& options) {
  be.awq_clip(w, g, group_grid(grid, w.cols), options.clip_grid, int(options.max_shrink * options.clip_grid));
}

void awq_clip(ThreadPool& pool, float* w, int64_t rows, const AwqInputStats& x, const IntGridSpec& grid,
              const AwqOptions& options) {
  check_stats(x);
  const auto be = make_cpu_backend(pool);
  Tensor wt = host_tensor(FormatId::F32, w, rows, x.cols);
  awq_clip(*be, wt, host_tensor(FormatId::F32, x.moments.data(), x.cols, x.cols), grid, options);
}

}  // namespace quantlab
