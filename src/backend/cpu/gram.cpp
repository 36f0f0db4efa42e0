// The Gram matrix Σ_t x_t x_tᵀ of calibration activations (GPTQ's Hessian, AWQ's moments), summed
// in double. Two floats multiply exactly in double, so each term is exact and the only rounding is
// that of each addition; every element adds its terms one token after the other, in token order.
// Blocking (a register tile of 4 rows x 16 columns of the sum, a block of tokens converted to
// double once) and vectorization only decide which elements are worked on together, never the
// order of an element's own additions, so the bits depend on nothing but the data.
#include "quantlab/backend/linalg.hpp"
#include "quantlab/backend/thread_pool.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace quantlab {
namespace {

constexpr int kTileRows = 4;
constexpr int kTileCols = 16;
constexpr int64_t kScratchDoubles = 1 << 17;  // a token block in double: 1 MiB, L2-resident

// Four doubles of a row, as one vector: element-wise arithmetic, so its width changes no result.
// (GCC/clang lower it to whatever the target has: AVX-512, AVX2, SSE2 or NEON registers.) Vectors
// are moved with memcpy and never passed to or returned from a function, whose ABI would depend on
// the target.
typedef double V4 __attribute__((vector_size(32)));

// Rows i0 .. i0+R-1 of the sum, columns from i0 on, over `tb` tokens of xd ([tb, n], double).
template <int R>
void gram_tile_rows(double* sum, const double* xd, int64_t tb, int64_t n, int64_t i0) {
  constexpr int kVecs = kTileCols / 4;
  int64_t j0 = i0;
  for (; j0 + kTileCols <= n; j0 += kTileCols) {
    V4 acc[R][kVecs];
    for (int a = 0; a < R; ++a)
      std::memcpy(acc[a], sum + (i0 + a) * n + j0, sizeof acc[a]);
    for (int64_t t = 0; t < tb; ++t) {
      const double* xr = xd + t * n;
      V4 xj[kVecs];
      std::memcpy(xj, xr + j0, sizeof xj);
      for (int a = 0; a < R; ++a) {
        const double xi = xr[i0 + a];
        for (int v = 0; v < kVecs; ++v) acc[a][v] += xi * xj[v];
      }
    }
    // The first tile of a row block reaches below the diagonal: those sums are not kept.
    for (int a = 0; a < R; ++a) {
      double row[kTileCols];
      std::memcpy(row, acc[a], sizeof row);
      for (int b = std::max<int>(0, int(i0 + a - j0)); b < kTileCols; ++b) sum[(i0 + a) * n + j0 + b] = row[b];
    }
  }
  for (int a = 0; a < R; ++a)
    for (int64_t j = std::max(j0, i0 + a); j < n; ++j) {
      double s = sum[(i0 + a) * n + j];
      for (int64_t t = 0; t < tb; ++t) s += xd[t * n + i0 + a] * xd[t * n + j];
      sum[(i0 + a) * n + j] = s;
    }
}

}  // namespace

void gram_accumulate(double* sum, const float* x, int64_t tokens, int64_t n, ThreadPool* pool) {
  if (tokens <= 0 || n <= 0) return;
  const int64_t block = std::max<int64_t>(8, kScratchDoubles / n);
  std::vector<double> xd(size_t(std::min(block, tokens) * n));
  const int64_t row_tiles = (n + kTileRows - 1) / kTileRows;
  for (int64_t t0 = 0; t0 < tokens; t0 += block) {
    const int64_t tb = std::min(block, tokens - t0);
    std::copy(x + t0 * n, x + (t0 + tb) * n, xd.begin());
    auto rows = [&](int64_t begin, int64_t end, int) {
      for (int64_t tile = begin; tile < end; ++tile) {
        const int64_t i0 = tile * kTileRows;
        if (i0 + kTileRows <= n) gram_tile_rows<kTileRows>(sum, xd.data(), tb, n, i0);
        else
          for (int64_t i = i0; i < n; ++i) gram_tile_rows<1>(sum, xd.data(), tb, n, i);
      }
    };
    if (pool && pool->size() > 1) pool->parallel_for(row_tiles, rows);
    else rows(0, row_tiles, 0);
  }
}

}  // namespace quantlab
