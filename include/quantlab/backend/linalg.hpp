#pragma once
// Dense linear algebra for the quantizers (GPTQ's Hessian factorization), on LAPACK (OpenBLAS).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

// For a symmetric positive definite n x n matrix H (row-major, double), replaces H by the upper
// triangular U with H^-1 = U^T U, the factor GPTQ walks column by column, in place: a large
// layer's Hessian (ffn_down of a 7B model: 11008^2 doubles, ~1 GB) is never held twice. Computed
// as the inverse of the "reversed" Cholesky factor of H (one Cholesky and one triangular inverse,
// instead of invert-then-factor). Returns false, with H restored bit for bit, if H is not
// positive definite (the caller adds damping and tries again).
bool inverse_upper_cholesky(std::vector<double>& H, int64_t n);

}  // namespace quantlab
