#pragma once
// The part of GPTQ that does not depend on the grid (shared by gptq.cpp's integer groups and
// gptq_gguf.cpp's GGUF blocks): the weight's transposed layout, dead inputs, act-order's reordering
// of the columns (the Hessian's, and its factor, are GptqHessian's), and the column sweep that
// quantizes one column at a time and pushes its error onto the later columns, in lazy blocks. On
// the CPU every floating-point step is in a fixed order with explicit fused multiply-adds
// (backend/linalg.hpp's kernels for the factor and the lazy update), so the result has the same
// bits on every CPU and build; on a GPU the factor and the lazy update run there
// (the same bits run to run, the CPU's up to rounding).
#include "quantlab/backend/backend.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/phase_times.hpp"
#include "quantlab/quant/gptq_hessian.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::gptq_detail {

// fn(i0, i1, thread) over [0, n), shared out over `pool` (may be null) when there are several
// threads; for work whose result does not depend on the split (copies, row-wise steps).
template <class Work>
void for_range(ThreadPool* pool, int64_t n, Work&& fn) {
  if (pool && pool->size() > 1 && n > 1) pool->parallel_for(n, fn);
  else fn(int64_t(0), n, 0);
}

// The weight as the sweep walks it: transposed ([cols][rows], column c of W the contiguous row
// wt[c*rows ...]), its columns in processing order (row i holds input perm[i]), and the columns of
// dead inputs (GptqHessian::dead: never seen non-zero, so their weights cannot matter) zero.
// Written in tiles of 32 x 32 by the pool's threads into memory nobody touched before: the first
// touch of 4 bytes a weight is most of this step's cost, so it is shared out too.
struct SweptWeight {
  std::unique_ptr<float[]> wt;
  int64_t dead = 0;  // how many inputs were dead
  float* data() { return wt.get(); }
};
inline SweptWeight weight_in_order(const float* w, int64_t rows, int64_t cols, const std::vector<int64_t>& perm,
                                   const GptqHessian& h, ThreadPool* pool) {
  SweptWeight out{std::unique_ptr<float[]>(new float[size_t(rows * cols)]), h.dead_count()};
  float* wt = out.wt.get();
  constexpr int64_t kTile = 32;
  for_range(pool, (cols + kTile - 1) / kTile, [&](int64_t t0, int64_t t1, int) {
    for (int64_t r0 = 0; r0 < rows; r0 += kTile)
      for (int64_t i = t0 * kTile; i < std::min(cols, t1 * kTile); ++i) {
        const int64_t c = perm[size_t(i)];
        const bool dead = h.dead(c);
        for (int64_t r = r0; r < std::min(rows, r0 + kTile); ++r) wt[i * rows + r] = dead ? 0.0f : w[r * cols + c];
      }
  });
  return out;
}

// The CPU backend the quantizers use when their caller names none (one thread: the factor and the
// lazy update are single-threaded kernels).
inline Backend& host_backend() {
  static ThreadPool pool(1);
  static const std::unique_ptr<Backend> backend = make_cpu_backend(pool);
  return *backend;
}

// fn(r0, r1, thread) over the rows [0, rows), shared out over `pool` (may be null) when the work
// (about `values` multiply-adds) outweighs a dispatch, which costs microseconds. For row-wise work
// only: no result may depend on how the rows are split.
template <class RowWork>
void for_rows(ThreadPool* pool, int64_t rows, int64_t values, RowWork&& fn) {
  if (values >= (int64_t(1) << 16)) for_range(pool, rows, fn);
  else fn(int64_t(0), rows, 0);
}

// `wt`: the weight transposed, [cols][rows] (column c contiguous), in processing order; `u` the
// factor of the Hessian in the same order (GptqHessian::factor), on the device of `be`.
// `quantize(col, r0, r1, thread, wc, q)` writes the quantized values of rows [r0, r1) of column
// `col` (whose current, error-updated weights are `wc`, indexed by row) into q[r0 .. r1); it may
// read those rows of the columns [col, col + reach) of `wt`, and must touch no other row (the rows
// are shared out over `pool`; `thread` names the calling worker, for scratch space). When it is
// called, every column has received the updates of all columns before `col` that lie in earlier
// lazy blocks, and the columns of the current lazy block those of the earlier columns of the block:
// columns beyond the block are not up to date. Returns GPTQ's loss Σ (w - q)² / (2 d²), summed per
// row and then over the rows in order (the same bits for any thread count).
//
// Every step of the column sweep acts on one row at a time, so a lazy block is swept in one
// dispatch: each worker takes a range of rows through all of the block's columns (the quantize
// step is each grid's own host code, whatever the device). The update of every later column
// (W[i2:] -= U[i1:i2, i2:]ᵀ · Err, the O(rows · cols²) part) runs on `be`. On a GPU the weights
// live there and each block's columns, with the `reach` after it, come back to `wt` before the
// block is swept.
template <class QuantizeColumns>
double sweep(Backend& be, ThreadPool* pool, float* wt, int64_t rows, int64_t cols, const Tensor& u,
             int64_t block_size, int64_t reach, QuantizeColumns&& quantize) {
  const PhaseScope phase("gptq.sweep");
  const int64_t bs = std::max<int64_t>(1, block_size);
  std::vector<float> err(size_t(bs * rows)), q(static_cast<size_t>(rows));
  std::vector<double> ublock(size_t(bs * bs));  // U[i1:i2, i1:i2]
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  std::optional<PhaseScope> placing(std::in_place, "gptq.sweep.place");
  Tensor w = be.place(host_tensor(FormatId::F32, wt, cols, rows));
  const bool on_host = w.data == wt;
  Tensor device_err = on_host ? Tensor{} : be.alloc(FormatId::F32, bs, rows);
  placing.reset();
  for (int64_t i1 = 0; i1 < cols; i1 += bs) {
    const int64_t i2 = std::min(cols, i1 + bs), nb = i2 - i1;
    {
      const PhaseScope fetching("gptq.sweep.fetch");
      if (!on_host) {
        const int64_t fetch = std::min(cols, i2 + std::max<int64_t>(1, reach) - 1) - i1;
        be.to_host(w.row_range(i1, fetch), wt + i1 * rows);
      }
      be.to_host(u.row_range(i1, nb).columns(i1, nb), ublock.data());
    }
    {
      const PhaseScope columns("gptq.sweep.columns");
      for_rows(pool, rows, nb * (nb + 16) * rows / 2, [&](int64_t r0, int64_t r1, int thread) {
        for (int64_t col = i1; col < i2; ++col) {
          const double* urow = ublock.data() + (col - i1) * nb;  // urow[j - i1] = U[col][j]
          const double d = urow[col - i1];
          float* wc = wt + col * rows;
          float* e = err.data() + (col - i1) * rows;
          quantize(col, r0, r1, thread, static_cast<const float*>(wc), q.data());
          for (int64_t r = r0; r < r1; ++r) {
            const float diff = wc[r] - q[size_t(r)];
            e[r] = float(diff / d);
            row_loss[size_t(r)] += double(diff) * diff / (2 * d * d);
          }
          // This column's error onto the rest of the block now; beyond it, lazily below.
          for (int64_t j = col + 1; j < i2; ++j) {
            const float uj = float(urow[j - i1]);
            float* wj = wt + j * rows;
            for (int64_t r = r0; r < r1; ++r) wj[r] = std::fma(-e[r], uj, wj[r]);
          }
        }
      });
    }
    if (i2 < cols) {
      const PhaseScope updating("gptq.sweep.update");
      Tensor e = on_host ? host_tensor(FormatId::F32, err.data(), nb, rows) : device_err.row_range(0, nb);
      if (!on_host) be.from_host(err.data(), e);
      Tensor rest = w.row_range(i2, cols - i2);
      be.subtract_transposed_product(u.row_range(i1, nb).columns(i2, cols - i2), e, rest);
    }
  }
  double loss = 0;
  for (double l : row_loss) loss += l;
  return loss;
}

}  // namespace quantlab::gptq_detail
