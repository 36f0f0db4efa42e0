#pragma once
// The part of GPTQ that does not depend on the grid (shared by gptq.cpp's integer groups and
// gptq_gguf.cpp's GGUF blocks): the weight's transposed layout, dead inputs, act-order's reordering
// and the damped inverse-Hessian factor (all in place on the one n x n Hessian), and the column
// sweep that quantizes one column at a time and pushes its error onto the later columns, in lazy
// blocks. Every floating-point step is in a fixed order with explicit fused multiply-adds
// (backend/linalg.hpp's kernels for the factor and the lazy update), so the result has the same
// bits on every CPU and build.
#include "quantlab/backend/linalg.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace quantlab::gptq_detail {

// The weight transposed, [cols][rows]: column c of W is the contiguous row wt[c*rows ...], the
// layout the sweep walks.
inline std::vector<float> transposed(const float* w, int64_t rows, int64_t cols) {
  std::vector<float> wt(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) wt[size_t(c * rows + r)] = w[r * cols + c];
  return wt;
}

// Inputs that were always zero carry no information: their weights cannot matter, so they are
// zeroed and their Hessian diagonal set to 1 (keeps H invertible). Returns how many there were.
inline int64_t drop_dead_columns(std::vector<double>& H, std::vector<float>& wt, int64_t rows, int64_t cols) {
  int64_t dead = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (H[size_t(c * cols + c)] == 0) {
      H[size_t(c * cols + c)] = 1;
      std::fill_n(wt.begin() + c * rows, rows, 0.0f);
      ++dead;
    }
  return dead;
}

// Replaces H by the upper U with (H + damp * mean(diag H) * I)^-1 = UᵀU, in place. A Hessian that
// is not positive definite (too few samples, collinear inputs) gets more damping instead of
// failing: 10x more each time (at least 1 % of the mean diagonal). Returns the damping used.
inline double inverse_factor(std::vector<double>& H, int64_t cols, double damp) {
  std::vector<double> diag(static_cast<size_t>(cols));
  double mean_diag = 0;
  for (int64_t c = 0; c < cols; ++c) mean_diag += diag[size_t(c)] = H[size_t(c * cols + c)];
  mean_diag /= double(cols);
  for (int attempt = 0;; ++attempt) {
    // From the undamped diagonal each time, so a retry adds exactly its own damping.
    for (int64_t c = 0; c < cols; ++c) H[size_t(c * cols + c)] = diag[size_t(c)] + damp * mean_diag;
    if (inverse_upper_cholesky(H, cols)) return damp;
    if (attempt == 6) throw Error("", "hessian", "not positive definite even with damping " + std::to_string(damp));
    damp = std::max(damp * 10, 0.01);
  }
}

// H[i][j] = H[perm[i]][perm[j]], in place (act-order's reordering without a second n x n matrix):
// rows are moved along the permutation's cycles, then each row's entries through one row buffer.
inline void permute_symmetric(std::vector<double>& H, int64_t n, const std::vector<int64_t>& perm) {
  std::vector<double> row(static_cast<size_t>(n));
  std::vector<bool> done(static_cast<size_t>(n), false);
  for (int64_t start = 0; start < n; ++start) {
    if (done[size_t(start)]) continue;
    // Cycle start <- perm[start] <- perm[perm[start]] ...: row i takes old row perm[i].
    std::copy_n(H.begin() + start * n, n, row.begin());
    int64_t i = start;
    while (true) {
      done[size_t(i)] = true;
      const int64_t from = perm[size_t(i)];
      if (from == start) {
        std::copy_n(row.begin(), n, H.begin() + i * n);
        break;
      }
      std::copy_n(H.begin() + from * n, n, H.begin() + i * n);
      i = from;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    double* r = H.data() + i * n;
    for (int64_t j = 0; j < n; ++j) row[size_t(j)] = r[perm[size_t(j)]];
    std::copy_n(row.begin(), n, r);
  }
}

// Act-order's reordering of both: wt's columns and H's rows and columns follow perm.
inline void permute(std::vector<float>& wt, std::vector<double>& H, int64_t rows, int64_t cols,
                    const std::vector<int64_t>& perm) {
  std::vector<float> wp(wt.size());
  for (int64_t i = 0; i < cols; ++i) std::copy_n(wt.begin() + perm[size_t(i)] * rows, rows, wp.begin() + i * rows);
  wt.swap(wp);
  permute_symmetric(H, cols, perm);
}

// `wt`: the weight transposed, [cols][rows] (column c contiguous), in processing order; U from
// inverse_factor of the Hessian in the same order. `quantize(col, wc, q)` writes the quantized
// values of column `col` (whose current, error-updated weights are `wc`) into q[rows]; when it is
// called, every column has received the updates of all columns before `col` that lie in earlier
// lazy blocks, and the columns of the current lazy block those of the earlier columns of the
// block: columns beyond the block are not up to date. Returns GPTQ's loss Σ (w - q)² / (2 d²).
template <class QuantizeColumn>
double sweep(std::vector<float>& wt, int64_t rows, int64_t cols, const std::vector<double>& U, int64_t block_size,
             QuantizeColumn&& quantize) {
  double loss = 0;
  const int64_t bs = std::max<int64_t>(1, block_size);
  std::vector<float> err(size_t(bs * rows)), q(static_cast<size_t>(rows));
  std::vector<float> ublock;
  for (int64_t i1 = 0; i1 < cols; i1 += bs) {
    const int64_t i2 = std::min(cols, i1 + bs);
    for (int64_t col = i1; col < i2; ++col) {
      const double d = U[size_t(col * cols + col)];
      float* wc = wt.data() + col * rows;
      float* e = err.data() + (col - i1) * rows;
      quantize(col, static_cast<const float*>(wc), q.data());
      for (int64_t r = 0; r < rows; ++r) {
        const float diff = wc[r] - q[size_t(r)];
        e[r] = float(diff / d);
        loss += double(diff) * diff / (2 * d * d);
      }
      // Push this column's error onto the rest of the block now; beyond it, lazily below.
      for (int64_t j = col + 1; j < i2; ++j) {
        const float u = float(U[size_t(col * cols + j)]);
        float* wj = wt.data() + j * rows;
        for (int64_t r = 0; r < rows; ++r) wj[r] = std::fma(-e[r], u, wj[r]);
      }
    }
    if (i2 < cols) {
      const int64_t nb = i2 - i1, rest = cols - i2;
      ublock.resize(size_t(nb * rest));
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t j = 0; j < rest; ++j) ublock[size_t(i * rest + j)] = float(U[size_t((i1 + i) * cols + i2 + j)]);
      // W[i2:] -= U[i1:i2, i2:]ᵀ · Err
      subtract_transposed_product(wt.data() + i2 * rows, rows, ublock.data(), rest, err.data(), rows, rest, rows, nb);
    }
  }
  return loss;
}

}  // namespace quantlab::gptq_detail
