#pragma once
// Dense linear algebra for the quantizers: the Gram matrix of calibration activations (GPTQ's
// Hessian, AWQ's second moments), GPTQ's inverse-Hessian factor and its lazy-batch update.
//
// These are the project's own kernels, not BLAS/LAPACK: every output element is defined by one
// fixed sequence of floating-point operations, whatever the CPU (x86-64 or ARM), its SIMD width,
// the BLAS library or core type, the thread count or how the work is blocked. A quantizer's output
// therefore has the same bits on every machine. Each function says which sequence it computes; the
// tests hold the blocked kernels to plain loops written from those definitions, bit for bit.
// Multiply-adds are explicit std::fma and the files are compiled without contraction, so -march
// does not change a bit either.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

class ThreadPool;

// sum[i*n + j] += Σ_t x[t*n + i] · x[t*n + j] for i <= j (the upper triangle of the row-major
// n x n `sum`; the strict lower triangle is left alone), x: [tokens, n] row-major. Each element is
// a sequential sum in token order of exact products (two floats multiply exactly in double), so
// splitting the tokens over several calls gives the same bits as one call, and fused or unfused
// multiply-adds give the same bits. Rows of `sum` are shared out over `pool` when one is given.
void gram_accumulate(double* sum, const float* x, int64_t tokens, int64_t n, ThreadPool* pool = nullptr);

// sum_x2[j] += Σ_t x[t*n + j]², sum_x[j] += Σ_t x[t*n + j], x: [tokens, n] row-major (an importance
// matrix's statistics): each column summed in double, token after token, of exact squares (a
// float squared is exact in double). A GPU backend sums the same terms in the same order.
inline void column_moments(const float* x, int64_t tokens, int64_t n, double* sum_x2, double* sum_x) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < n; ++j) {
      const double v = x[t * n + j];
      sum_x2[j] += v * v;
      sum_x[j] += v;
    }
}

// sum_abs[j] += Σ_t |x[t*n + j]| (AWQ's input statistic), each column summed in double token after
// token; a GPU backend sums the same terms in the same order.
inline void column_abs_sums(const float* x, int64_t tokens, int64_t n, double* sum_abs) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < n; ++j) sum_abs[j] += std::fabs(double(x[t * n + j]));
}

// The dot products of the two factorizations below: Σ_k a[k]·b[k] over k in [begin, end) is summed
// in 8 lanes, lane k mod 8 taking its terms in increasing k with fused multiply-adds, and the lanes
// are then added as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
inline constexpr int kLinalgDotLanes = 8;

// Cholesky factor of a symmetric positive definite n x n matrix, in place, row-major: on entry the
// lower triangle (with the diagonal) holds M, on return L with M = L Lᵀ; the strict upper triangle
// is never read or written. L[i][j] = (M[i][j] - dot(L[i], L[j], 0, j)) / L[j][j] and
// L[i][i] = sqrt(M[i][i] - dot(L[i], L[i], 0, i)). Returns false when a pivot is not positive
// (M is not positive definite); the lower triangle is then partly overwritten.
bool cholesky_lower(double* a, int64_t n);

// The inverse X = L⁻¹ of the lower triangular L of cholesky_lower, written transposed into the
// upper triangle of the same array: on return a[c*n + i] = X[i][c] for i >= c; the strict lower
// triangle (L) is read, not written. X[c][c] = 1 / L[c][c], and for i > c
// X[i][c] = -dot(L[i], Xᵀ[c], c, i) / L[i][i].
void invert_lower_transposed(double* a, int64_t n);

// For a symmetric positive definite n x n matrix H (row-major, double, both triangles), replaces
// H by the upper triangular U with H^-1 = U^T U (strict lower triangle zero), the factor GPTQ
// walks column by column, in place: a large layer's Hessian (ffn_down of a 7B model: 11008^2
// doubles, ~1 GB) is never held twice. Computed as the inverse of the "reversed" Cholesky factor
// of H (one Cholesky and one triangular inverse, instead of invert-then-factor). Returns false,
// with H restored bit for bit, if H is not positive definite (the caller adds damping and tries
// again).
bool inverse_upper_cholesky(double* H, int64_t n);

// GPTQ's lazy-batch update, C -= Aᵀ B: A is [k, m] (row stride lda), B is [k, n] (row stride ldb),
// C is [m, n] (row stride ldc), all f32 row-major. Each C[i][j] becomes C[i][j] - s with
// s = Σ_p A[p][i]·B[p][j] accumulated by fused multiply-adds in increasing p from 0.
void subtract_transposed_product(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb,
                                 int64_t m, int64_t n, int64_t k);

}  // namespace quantlab
