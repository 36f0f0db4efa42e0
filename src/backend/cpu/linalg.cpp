#include "quantlab/backend/linalg.hpp"

extern "C" {
// LAPACK (Fortran ABI), provided by OpenBLAS.
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
}

namespace quantlab {

bool inverse_upper_cholesky(const std::vector<double>& H, int64_t n64, std::vector<double>& U) {
  const int n = int(n64);
  // Let J reverse the index order and M = J H J = L L^T (L lower). Then H = R R^T with
  // R = J L J upper, H^-1 = R^-T R^-1, so U = R^-1 = J L^-1 J.
  // In column-major terms, the row-major M is M itself (symmetric); we ask LAPACK for the lower
  // factor of a column-major matrix, whose row-major reading is the upper factor L^T.
  std::vector<double> m(std::size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) m[std::size_t(i) * n + j] = H[std::size_t(n - 1 - i) * n + (n - 1 - j)];
  int info = 0;
  const char lower = 'L', nonunit = 'N';
  dpotrf_(&lower, &n, m.data(), &n, &info);
  if (info != 0) return false;
  dtrtri_(&lower, &nonunit, &n, m.data(), &n, &info);
  if (info != 0) return false;
  // m (column-major) now holds L^-1 in its lower triangle: element (r, c) at m[c*n + r], r >= c.
  U.assign(std::size_t(n) * n, 0.0);
  for (int c = 0; c < n; ++c)
    for (int r = c; r < n; ++r) {
      // U = J L^-1 J: U[n-1-r][n-1-c] = Linv[r][c]; row n-1-r <= column n-1-c, so U is upper.
      U[std::size_t(n - 1 - r) * n + (n - 1 - c)] = m[std::size_t(c) * n + r];
    }
  return true;
}

}  // namespace quantlab
