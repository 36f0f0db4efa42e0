#pragma once
// Dense linear algebra for the quantizers (GPTQ's Hessian factorization), on LAPACK (OpenBLAS).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

// For a symmetric positive definite n x n matrix H (row-major, double), returns the upper
// triangular U with H^-1 = U^T U, the factor GPTQ walks column by column. Computed as the inverse
// of the "reversed" Cholesky factor of H (one Cholesky and one triangular inverse, instead of
// invert-then-factor). Returns false if H is not positive definite (the caller adds damping).
bool inverse_upper_cholesky(const std::vector<double>& H, int64_t n, std::vector<double>& U);

}  // namespace quantlab
