#pragma once
// GPTQ's Hessian proxy for one linear layer: H = 2/N Σ x xᵀ over the N calibration tokens seen at
// that layer's input. Accumulated in double so long calibration runs do not lose small terms.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantlab {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t n) : n_(n), sum_(size_t(n * n), 0.0) {}

  // x: [tokens, n] row-major activations. The sum is formed over fixed chunks of 256 consecutive
  // tokens of everything added (an f32 rank-k update each, added to the double sum), so adding the
  // same tokens in several calls -- micro-batches of any size -- gives the same bits as one call.
  void add(const float* x, int64_t tokens);

  int64_t dim() const { return n_; }
  int64_t tokens() const { return tokens_; }
  // 2/N Σ x xᵀ, row-major n x n (the scale does not change GPTQ's result; kept for comparability).
  // Formed in the accumulator's own buffer and handed over, so the n x n matrix exists once: the
  // accumulator starts again from nothing afterwards (its sum is re-made only when tokens come).
  std::vector<double> take_hessian();

 private:
  static constexpr int64_t kChunk = 256;
  void flush();

  int64_t n_;
  int64_t tokens_ = 0;
  std::vector<double> sum_;     // upper triangle is filled; take_hessian() mirrors it
  std::vector<float> pending_;  // the tokens of the current, incomplete chunk
  std::vector<float> part_;     // one chunk's f32 product
};

}  // namespace quantlab
