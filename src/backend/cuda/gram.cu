// Calibration statistics on the GPU. Column moments (an importance matrix's Σx², Σx): one thread
// per column adds its tokens in order, in double, as linalg.hpp's column_moments does on the CPU
// (the same bits for the same activations). Gram matrices (GPTQ's Hessian, AWQ's second moments):
// the activations are widened to double, which makes every product exact as on the CPU, and
// cuBLAS's DSYRK sums them in double (FP64 tensor cores on sm_80+). The order of the sums is
// cuBLAS's, fixed for a shape on one stream, so results repeat bit for bit; they differ from the
// CPU's token-after-token sums only by double rounding (~1e-16 relative per term). With TF32
// allowed (Backend::allow_tf32, the calibration default) each chunk of tokens is one TF32 product
// instead, added to the double sums (gram_accumulate_tf32).
#include "src/backend/cuda/cublas_library.hpp"
#include "src/backend/cuda/cuda_common.cuh"
#include "src/backend/cuda/kernels.hpp"

#include <algorithm>

namespace quantlab::cuda {
namespace {

__global__ void widen(const float* x, int64_t n, double* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = double(x[i]);
}

__global__ void column_moments_kernel(const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  double s2 = sums[j], s1 = sums[n + j];
  for (int64_t t = 0; t < tokens; ++t) {
    const double v = x[t * stride + j];
    s2 += v * v;
    s1 += v;
  }
  sums[j] = s2;
  sums[n + j] = s1;
}

__global__ void column_abs_sums_kernel(const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  double s = sums[j];
  for (int64_t t = 0; t < tokens; ++t) s += fabs(double(x[t * stride + j]));
  sums[j] = s;
}

// sum[i][j0 + c] += g[c * n + i] for the columns c < bn of a block and i <= j0 + c (the row-major
// upper triangle of sum; g holds the block column-major with leading dimension n).
__global__ void add_upper_block(const float* g, int64_t n, int64_t j0, int64_t bn, double* sum) {
  const int64_t c = blockIdx.y, i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, j = j0 + c;
  if (c >= bn || i > j) return;
  sum[i * n + j] += double(g[c * n + i]);
}

// With TF32 allowed: each chunk of tokens is multiplied on TF32 tensor cores in f32 (the
// activations rounded to 10-bit mantissas, as the reference code's f16 forward passes round them,
// summed in f32 over at most kTf32Chunk tokens) and added to the double sums, a block of columns at
// a time (only the triangle's rows). ~7x faster than DSYRK on an H100.
constexpr int64_t kTf32Chunk = 8192;
void gram_accumulate_tf32(const Context& ctx, const float* x, int64_t tokens, int64_t n, double* sum) {
  const int64_t bn = gpu_gram_tf32_block(n);
  auto* g = static_cast<float*>(ctx.ws->get(Workspace::kGram, size_t(n * bn) * sizeof(float)));
  const float one = 1.0f, zero = 0.0f;
  for (int64_t t0 = 0; t0 < tokens; t0 += kTf32Chunk) {
    const int64_t k = std::min(kTf32Chunk, tokens - t0);
    const float* a = x + t0 * n;  // column-major n x k
    for (int64_t j0 = 0; j0 < n; j0 += bn) {
      const int64_t w = std::min(bn, n - j0), rows = j0 + w;
      // Columns j0 .. j0 + w of A Aᵀ, rows 0 .. rows (the upper triangle's part of them).
      const cublasStatus_t st = cublas_library().gemm_ex(
          ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_T, int(rows), int(w), int(k), &one, a, CUDA_R_32F, int(n), a + j0,
          CUDA_R_32F, int(n), &zero, g, CUDA_R_32F, int(n), CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
      if (st != CUBLAS_STATUS_SUCCESS) throw Error("cuda backend", "cublasGemmEx", "cuBLAS status " + std::to_string(int(st)));
      add_upper_block<<<dim3(unsigned(ceil_div(rows, 256)), unsigned(w)), 256, 0, ctx.stream>>>(g, n, j0, w, sum);
      check_launch("gram add");
    }
  }
}

}  // namespace

void column_moments(const Context& ctx, const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums) {
  if (tokens <= 0 || n <= 0) return;
  column_moments_kernel<<<unsigned(ceil_div(n, 128)), 128, 0, ctx.stream>>>(x, tokens, n, stride, sums);
  check_launch("column moments");
}

void column_abs_sums(const Context& ctx, const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums) {
  if (tokens <= 0 || n <= 0) return;
  column_abs_sums_kernel<<<unsigned(ceil_div(n, 128)), 128, 0, ctx.stream>>>(x, tokens, n, stride, sums);
  check_launch("column abs sums");
}

void gram_accumulate(const Context& ctx, const float* x, int64_t tokens, int64_t n, double* sum) {
  if (tokens <= 0 || n <= 0) return;
  if (ctx.tf32) return gram_accumulate_tf32(ctx, x, tokens, n, sum);
  // Tokens widened per DSYRK call: about 256 MiB of doubles.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(tokens, (int64_t(256) << 20) / (n * 8)));
  auto* xd = static_cast<double*>(ctx.ws->get(Workspace::kGram, size_t(chunk * n) * sizeof(double)));
  const double one = 1.0;
  for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
    const int64_t k = std::min(chunk, tokens - t0);
    widen<<<unsigned(ceil_div(k * n, 256)), 256, 0, ctx.stream>>>(x + t0 * n, k * n, xd);
    check_launch("gram widen");
    // Row-major x [k][n] is the column-major n x k matrix A, and the row-major upper triangle of
    // sum is the column-major lower one: sum += A Aᵀ.
    const cublasStatus_t st =
        cublas_library().dsyrk(ctx.cublas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, int(n), int(k), &one, xd, int(n), &one,
                               sum, int(n));
    if (st != CUBLAS_STATUS_SUCCESS) throw Error("cuda backend", "cublasDsyrk", "cuBLAS status " + std::to_string(int(st)));
  }
}

}  // namespace quantlab::cuda
