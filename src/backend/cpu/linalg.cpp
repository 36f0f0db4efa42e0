#include "quantlab/backend/linalg.hpp"

#include <algorithm>

namespace quantlab {

bool inverse_upper_cholesky(double* A, int64_t n) {
  const std::size_t nn = std::size_t(n) * std::size_t(n);
  // Let J reverse the index order and M = J H J = L L^T (L lower). Then H = R R^T with R = J L J
  // upper, H^-1 = R^-T R^-1, so U = R^-1 = J L^-1 J. For a row-major n x n array, J M J is the
  // array reversed, so M is formed in place by one reversal.
  std::reverse(A, A + nn);
  // The factorization works on the lower triangle; the strict upper one keeps M (symmetric), from
  // which the matrix is restored if the factorization fails.
  std::vector<double> diag(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) diag[std::size_t(i)] = A[std::size_t(i * n + i)];
  if (!cholesky_lower(A, n)) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < r; ++c) A[std::size_t(r * n + c)] = A[std::size_t(c * n + r)];
    for (int64_t i = 0; i < n; ++i) A[std::size_t(i * n + i)] = diag[std::size_t(i)];
    std::reverse(A, A + nn);
    return false;
  }
  invert_lower_transposed(A, n);
  // L^-1 (r, c), r >= c, sits at A[c*n + r]: move it to the lower triangle (A[r*n + c]) and clear
  // the upper one; reversing the array then gives J L^-1 J = U, upper triangular.
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < r; ++c) {
      A[std::size_t(r * n + c)] = A[std::size_t(c * n + r)];
      A[std::size_t(c * n + r)] = 0.0;
    }
  std::reverse(A, A + nn);
  return true;
}

}  // namespace quantlab
