#pragma once
// GPTQ's Hessian proxy for one linear layer: H = 2/N Σ x xᵀ over the N calibration tokens seen at
// that layer's input. Accumulated in double so long calibration runs do not lose small terms.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

class ThreadPool;

// 2/N Σ x xᵀ from the sums Σ x xᵀ of N = `tokens` tokens given in the upper triangle (i <= j) of
// the row-major n x n `upper` (the lower triangle is overwritten): the Hessian of a GPU's sums.
// `pool` (may be null) shares the work out (a copy and a scaling: the same bits).
std::vector<double> hessian_from_gram(std::vector<double> upper, int64_t n, int64_t tokens, ThreadPool* pool = nullptr);

class HessianAccumulator {
 public:
  // `pool`, if given, shares the rows of each update out over its threads (same bits).
  explicit HessianAccumulator(int64_t n, ThreadPool* pool = nullptr) : n_(n), pool_(pool) {}

  // x: [tokens, n] row-major activations. Every element of the sum adds its exact products one
  // token after the other, in the order the tokens are added (gram_accumulate, backend/linalg.hpp):
  // adding the same tokens in several calls -- micro-batches of any size -- gives the same bits as
  // one call, on any CPU and with any thread count.
  void add(const float* x, int64_t tokens);

  int64_t dim() const { return n_; }
  int64_t tokens() const { return tokens_; }
  // 2/N Σ x xᵀ, row-major n x n (the scale does not change GPTQ's result; kept for comparability).
  // Formed in the accumulator's own buffer and handed over, so the n x n matrix exists once: the
  // accumulator starts again from nothing afterwards (its sum is re-made only when tokens come).
  std::vector<double> take_hessian();
  // The sums Σ x xᵀ as they are (upper triangle filled, lower undefined), handed over like take_hessian.
  std::vector<double> take_sums();

 private:
  int64_t n_;
  ThreadPool* pool_;
  int64_t tokens_ = 0;
  std::vector<double> sum_;  // upper triangle is filled; take_hessian() mirrors it
};

}  // namespace quantlab
