// AWQ's searches on the GPU (Backend::awq_scaled_delta, sum_of_products, awq_clip): each candidate
// scaling's pseudo-quantization error of the group's weights, and its output error Σ_r Δ_r G Δ_rᵀ
// reduced from the product Δ·G (a matmul) and Δ; then the clipping threshold of every group. The candidate's arithmetic is
// quant/awq_math.hpp's, shared with the host, so Δ has the CPU's bits; the reduction runs in a
// fixed tree order per row, then the rows in order: the same bits run to run.
#include "quantlab/quant/awq_math.hpp"
#include "src/backend/cuda/cuda_common.cuh"
#include "src/backend/cuda/kernels.hpp"

#include <math_constants.h>

namespace quantlab::cuda {
namespace {

// One thread per (row, group): the group's values are contiguous in the row.
__global__ void awq_scaled_delta_kernel(const float* w, const float* s, int64_t rows, int64_t cols, IntGroupGrid grid,
                                        int64_t n_groups, float* delta) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n_groups) return;
  const int64_t r = i / n_groups, c0 = (i % n_groups) * grid.group_size;
  const int64_t n = cols - c0 < grid.group_size ? cols - c0 : grid.group_size;
  awq_scaled_delta_group(w + r * cols + c0, s + c0, n, grid.max_code, grid.symmetric, grid.rule, delta + r * cols + c0);
}

constexpr int kReduceThreads = 256;

// row_sums[r] = Σ_c a[r][c]·b[r][c] in double: each thread a strided partial sum, then a fixed tree.
__global__ void __launch_bounds__(kReduceThreads)
    row_products_kernel(const float* a, const float* b, int64_t cols, double* row_sums) {
  __shared__ double part[kReduceThreads];
  const int64_t r = blockIdx.x;
  const float* x = a + r * cols;
  const float* y = b + r * cols;
  double sum = 0;
  for (int64_t c = threadIdx.x; c < cols; c += kReduceThreads) sum += double(x[c]) * double(y[c]);
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) row_sums[r] = part[0];
}

// out = start + row_sums[0] + row_sums[1] + ..., in row order (one thread: rows are few thousand).
__global__ void add_in_order_kernel(const double* row_sums, int64_t rows, double start, double* out) {
  double sum = start;
  for (int64_t r = 0; r < rows; ++r) sum += row_sums[r];
  *out = sum;
}

constexpr int kClipRows = 64;

// One thread per (row, group), a CTA per 64 rows of one group (they read the same block of G at the
// same time). Each candidate's d goes to `scratch` at the group's place in the row; the sums are
// Backend::awq_clip's: an fmaf chain in increasing j per i, the double sum in increasing i with
// products and sums never fused, as the CPU backend computes them.
__global__ void __launch_bounds__(kClipRows)
    awq_clip_kernel(float* w, const float* g, int64_t rows, int64_t cols, IntGroupGrid grid, int clip_grid,
                    int n_shrink, float* scratch) {
  const int64_t r = int64_t(blockIdx.x) * kClipRows + threadIdx.x;
  if (r >= rows) return;
  const int64_t c0 = int64_t(blockIdx.y) * grid.group_size;
  const int64_t width = cols - c0 < grid.group_size ? cols - c0 : grid.group_size;
  float* src = w + r * cols + c0;
  float* d = scratch + r * cols + c0;
  const float* block = g + c0 * cols + c0;
  float amax = 0;
  for (int64_t i = 0; i < width; ++i) amax = amax < fabsf(src[i]) ? fabsf(src[i]) : amax;  // std::max
  double best_err = CUDART_INF;
  float best_max = amax;
  for (int k = 0; k < n_shrink; ++k) {
    const float max_val = awq_clip_candidate(amax, k, clip_grid);
    awq_clipped_delta_group(src, width, max_val, grid.max_code, grid.symmetric, grid.rule, d);
    double err = 0;
    for (int64_t i = 0; i < width; ++i) {
      float acc = 0.0f;
      for (int64_t j = 0; j < width; ++j) acc = fmaf(d[j], block[j * cols + i], acc);
      err = __dadd_rn(err, __dmul_rn(double(d[i]), double(acc)));
    }
    if (err < best_err) best_err = err, best_max = max_val;
  }
  for (int64_t i = 0; i < width; ++i) src[i] = src[i] < -best_max ? -best_max : (best_max < src[i] ? best_max : src[i]);
}

}  // namespace

void awq_clip(const Context& ctx, float* w, const float* g, int64_t rows, int64_t cols, const IntGroupGrid& grid,
              int clip_grid, int n_shrink) {
  if (rows <= 0 || cols <= 0) return;
  auto* scratch = static_cast<float*>(ctx.ws->get(Workspace::kLinalg, size_t(rows * cols) * sizeof(float)));
  const dim3 blocks(unsigned(ceil_div(rows, kClipRows)), unsigned(ceil_div(cols, grid.group_size)));
  awq_clip_kernel<<<blocks, kClipRows, 0, ctx.stream>>>(w, g, rows, cols, grid, clip_grid, n_shrink, scratch);
  check_launch("awq clip");
}

void awq_scaled_delta(const Context& ctx, const float* w, const float* s, int64_t rows, int64_t cols,
                      const IntGroupGrid& grid, float* delta) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t n_groups = ceil_div(cols, grid.group_size);
  awq_scaled_delta_kernel<<<unsigned(ceil_div(rows * n_groups, 128)), 128, 0, ctx.stream>>>(w, s, rows, cols, grid,
                                                                                             n_groups, delta);
  check_launch("awq scaled delta");
}

double sum_of_products(const Context& ctx, const float* a, const float* b, int64_t rows, int64_t cols, double start) {
  if (rows <= 0) return start;
  auto* sums = static_cast<double*>(ctx.ws->get(Workspace::kPartials, size_t(rows + 1) * sizeof(double)));
  row_products_kernel<<<unsigned(rows), kReduceThreads, 0, ctx.stream>>>(a, b, cols, sums);
  check_launch("sum of products");
  add_in_order_kernel<<<1, 1, 0, ctx.stream>>>(sums, rows, start, sums + rows);
  check_launch("sum of products (rows)");
  double out = 0;
  check(cudaMemcpyAsync(&out, sums + rows, sizeof(double), cudaMemcpyDeviceToHost, ctx.stream), "sum of products");
  check(cudaStreamSynchronize(ctx.stream), "sum of products");
  return out;
}

}  // namespace quantlab::cuda
