#include "quantlab/backend/linalg.hpp"

#include <algorithm>

extern "C" {
// LAPACK (Fortran ABI), provided by OpenBLAS.
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
}

namespace quantlab {

bool inverse_upper_cholesky(std::vector<double>& A, int64_t n64) {
  const int n = int(n64);
  const std::size_t nn = std::size_t(n) * std::size_t(n);
  // Let J reverse the index order and M = J H J = L L^T (L lower). Then H = R R^T with R = J L J
  // upper, H^-1 = R^-T R^-1, so U = R^-1 = J L^-1 J. For a row-major n x n array, J M J is the
  // array reversed, so M is formed in place by one reversal.
  std::reverse(A.begin(), A.begin() + std::ptrdiff_t(nn));
  // Read column-major, the symmetric M is itself; LAPACK's lower triangle (row r >= column c, at
  // A[c*n + r]) is the row-major upper triangle. The row-major strict lower triangle is never
  // touched, so M can be restored from it if the factorization fails.
  std::vector<double> diag(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) diag[std::size_t(i)] = A[std::size_t(i) * n + i];
  int info = 0;
  const char lower = 'L', nonunit = 'N';
  dpotrf_(&lower, &n, A.data(), &n, &info);
  if (info == 0) dtrtri_(&lower, &nonunit, &n, A.data(), &n, &info);
  if (info != 0) {
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < r; ++c) A[std::size_t(c) * n + r] = A[std::size_t(r) * n + c];
    for (int i = 0; i < n; ++i) A[std::size_t(i) * n + i] = diag[std::size_t(i)];
    std::reverse(A.begin(), A.begin() + std::ptrdiff_t(nn));
    return false;
  }
  // L^-1 (r, c), r >= c, sits at A[c*n + r]: move it to the row-major lower triangle (A[r*n + c])
  // and clear the upper one; reversing the array then gives J L^-1 J = U, upper triangular.
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < r; ++c) {
      A[std::size_t(r) * n + c] = A[std::size_t(c) * n + r];
      A[std::size_t(c) * n + r] = 0.0;
    }
  std::reverse(A.begin(), A.begin() + std::ptrdiff_t(nn));
  return true;
}

}  // namespace quantlab
