// GPTQ's lazy-batch update C -= Aᵀ B (linalg.hpp). No element's sum is ever split: each one runs
// over p in increasing order in one accumulator, so vectorizing across the columns of C (a tile of
// 4 rows x 32 columns shares its loads of B) cannot change a bit.
#include "quantlab/backend/linalg.hpp"

#include <algorithm>
#include <cmath>

namespace quantlab {
namespace {

constexpr int kTileRows = 4;
constexpr int kTileCols = 32;

}  // namespace

void subtract_transposed_product(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb,
                                 int64_t m, int64_t n, int64_t k) {
  for (int64_t i0 = 0; i0 < m; i0 += kTileRows) {
    int64_t j0 = 0;
    if (i0 + kTileRows <= m)
      for (; j0 + kTileCols <= n; j0 += kTileCols) {
        float acc[kTileRows][kTileCols] = {};
        for (int64_t p = 0; p < k; ++p) {
          const float* bp = b + p * ldb + j0;
          for (int r = 0; r < kTileRows; ++r) {
            const float u = a[p * lda + i0 + r];
            for (int l = 0; l < kTileCols; ++l) acc[r][l] = std::fma(u, bp[l], acc[r][l]);
          }
        }
        for (int r = 0; r < kTileRows; ++r)
          for (int l = 0; l < kTileCols; ++l) c[(i0 + r) * ldc + j0 + l] -= acc[r][l];
      }
    for (int64_t i = i0; i < std::min(m, i0 + kTileRows); ++i)
      for (int64_t j = j0; j < n; ++j) {
        float s = 0.0f;
        for (int64_t p = 0; p < k; ++p) s = std::fma(a[p * lda + i], b[p * ldb + j], s);
        c[i * ldc + j] -= s;
      }
  }
}

}  // namespace quantlab
