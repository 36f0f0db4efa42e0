// GPTQ's linear algebra on the GPU: the damped inverse-Hessian factor (cuSOLVER, double) and the
// lazy-batch update of the later columns (cuBLAS SGEMM, f32 without TF32). The CPU's definitions
// are in include/quantlab/backend/linalg.hpp; these compute the same matrices up to rounding, with
// the same bits run to run (cuSOLVER and cuBLAS use no atomics for these, on one stream).
#include "src/backend/cuda/cublas_library.hpp"
#include "src/backend/cuda/cuda_common.cuh"
#include "src/backend/cuda/cusolver_library.hpp"
#include "src/backend/cuda/kernels.hpp"

#include <algorithm>
#include <climits>
#include <string>

namespace quantlab::cuda {
namespace {

[[noreturn]] void solver_failed(const char* call, cusolverStatus_t st) {
  throw Error("cuda backend", call, "cuSOLVER status " + std::to_string(int(st)));
}

// Row-major strict lower triangle (i > j) set to zero: the factor's contract on every device.
__global__ void zero_strict_lower(double* a, int64_t n) {
  const int64_t i = blockIdx.y, j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n && j < i) a[i * n + j] = 0.0;
}

// out [k][m] packed = a [k][m] (row stride lda) rounded to f32.
__global__ void round_to_f32(const double* a, int64_t lda, int64_t k, int64_t m, float* out) {
  const int64_t p = blockIdx.y, i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p < k && i < m) out[p * m + i] = float(a[p * lda + i]);
}

// One thread per (i, j), j fastest: out's row i written coalesced, sums read where the order puts them.
__global__ void hessian_in_order_kernel(const double* sums, double scale, const double* diag, const int32_t* p,
                                        int64_t n, double* out) {
  const int64_t i = blockIdx.y, j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n || j >= n) return;
  if (i == j) {
    out[i * n + j] = diag[i];
    return;
  }
  const int64_t a = p[i], b = p[j];
  out[i * n + j] = scale * sums[a < b ? a * n + b : b * n + a];
}

__global__ void diagonal_kernel(const double* h, int64_t n, double* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = h[i * n + i];
}

}  // namespace

void hessian_in_order(const Context& ctx, const double* sums, double scale, const void* order_and_diag, int64_t n,
                      double* out) {
  if (n <= 0) return;
  const auto* diag = static_cast<const double*>(order_and_diag);
  const auto* p = reinterpret_cast<const int32_t*>(diag + n);
  hessian_in_order_kernel<<<dim3(unsigned(ceil_div(n, 256)), unsigned(n)), 256, 0, ctx.stream>>>(sums, scale, diag, p, n,
                                                                                               out);
  check_launch("hessian_in_order");
}

void read_diagonal(const Context& ctx, const double* h, int64_t n, double* out) {
  if (n <= 0) return;
  diagonal_kernel<<<unsigned(ceil_div(n, 256)), 256, 0, ctx.stream>>>(h, n, out);
  check_launch("read_diagonal");
}

bool inverse_upper_cholesky(const Context& ctx, cusolverDnHandle_t solver, double* h, int64_t n) {
  if (n <= 0) return true;
  if (n > INT_MAX / 2) throw Error("cuda backend", "inverse_upper_cholesky", "matrix too large for cuSOLVER's int sizes");
  const CusolverLibrary& s = cusolver_library();
  const int ni = int(n);
  // The row-major symmetric H read column-major is H itself, and a column-major lower triangle is
  // the row-major upper one. potrf: H = L Lᵀ; potri: H⁻¹ from L (lower); potrf again: H⁻¹ = L' L'ᵀ,
  // and the column-major lower L' is, row-major, the upper U = L'ᵀ with UᵀU = H⁻¹ (the CPU's U:
  // an upper Cholesky factor with a positive diagonal is unique).
  int lwork_f = 0, lwork_i = 0;
  cusolverStatus_t st = s.potrf_buffer_size(solver, CUBLAS_FILL_MODE_LOWER, ni, h, ni, &lwork_f);
  if (st != CUSOLVER_STATUS_SUCCESS) solver_failed("cusolverDnDpotrf_bufferSize", st);
  st = s.potri_buffer_size(solver, CUBLAS_FILL_MODE_LOWER, ni, h, ni, &lwork_i);
  if (st != CUSOLVER_STATUS_SUCCESS) solver_failed("cusolverDnDpotri_bufferSize", st);
  const int lwork = std::max(lwork_f, lwork_i);
  // One workspace: the solver's doubles, then its status int.
  auto* work = static_cast<double*>(ctx.ws->get(Workspace::kLinalg, (size_t(lwork) + 1) * sizeof(double)));
  int* info = reinterpret_cast<int*>(work + lwork);
  int host_info = 0;
  auto step = [&](const char* call, cusolverStatus_t status) {
    if (status != CUSOLVER_STATUS_SUCCESS) solver_failed(call, status);
    check(cudaMemcpyAsync(&host_info, info, sizeof(int), cudaMemcpyDeviceToHost, ctx.stream), call);
    check(cudaStreamSynchronize(ctx.stream), call);
    if (host_info < 0) throw Error("cuda backend", call, "argument " + std::to_string(-host_info) + " refused");
    return host_info == 0;  // > 0: a leading minor is not positive definite
  };
  if (!step("cusolverDnDpotrf", s.potrf(solver, CUBLAS_FILL_MODE_LOWER, ni, h, ni, work, lwork, info))) return false;
  if (!step("cusolverDnDpotri", s.potri(solver, CUBLAS_FILL_MODE_LOWER, ni, h, ni, work, lwork, info))) return false;
  if (!step("cusolverDnDpotrf", s.potrf(solver, CUBLAS_FILL_MODE_LOWER, ni, h, ni, work, lwork, info))) return false;
  zero_strict_lower<<<dim3(unsigned(ceil_div(n, 256)), unsigned(n)), 256, 0, ctx.stream>>>(h, n);
  check_launch("zero_strict_lower");
  return true;
}

void subtract_transposed_product(const Context& ctx, const void* a, bool a_f64, int64_t lda, const float* b,
                                 int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const float* af = static_cast<const float*>(a);
  if (a_f64) {
    auto* rounded = static_cast<float*>(ctx.ws->get(Workspace::kLinalg, size_t(k * m) * sizeof(float)));
    round_to_f32<<<dim3(unsigned(ceil_div(m, 256)), unsigned(k)), 256, 0, ctx.stream>>>(static_cast<const double*>(a),
                                                                                        lda, k, m, rounded);
    check_launch("round_to_f32");
    af = rounded;
    lda = m;
  }
  // Row-major X [r][c] is the column-major c x r matrix Xᶜ = Xᵀ. C -= AᵀB is Cᵀ -= Bᵀ A, that is
  // Cᶜ (n x m) -= Bᶜ (n x k) · (Aᶜ)ᵀ (k x m).
  const float minus_one = -1.0f, one = 1.0f;
  const cublasStatus_t st = cublas_library().sgemm(ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_T, int(n), int(m), int(k),
                                                   &minus_one, b, int(ldb), af, int(lda), &one, c, int(ldc));
  if (st != CUBLAS_STATUS_SUCCESS) throw Error("cuda backend", "cublasSgemm", "cuBLAS status " + std::to_string(int(st)));
}

}  // namespace quantlab::cuda
