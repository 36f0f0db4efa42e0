#include "quantlab/quant/hessian.hpp"

#include <cblas.h>

#include <algorithm>

namespace quantlab {

void HessianAccumulator::add(const float* x, int64_t tokens) {
  // Per batch, the f32 rank-k update (syrk) is exact enough for at most a few thousand tokens;
  // the running sum is kept in double.
  constexpr int64_t kChunk = 256;
  std::vector<float> part(size_t(n_ * n_));
  for (int64_t t0 = 0; t0 < tokens; t0 += kChunk) {
    const int64_t k = std::min(kChunk, tokens - t0);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(n_), int(k), 1.0f, x + t0 * n_, int(n_), 0.0f,
                part.data(), int(n_));
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t j = i; j < n_; ++j) sum_[size_t(i * n_ + j)] += part[size_t(i * n_ + j)];
  }
  tokens_ += tokens;
}

std::vector<double> HessianAccumulator::hessian() const {
  std::vector<double> h(size_t(n_ * n_), 0.0);
  if (tokens_ == 0) return h;
  const double s = 2.0 / double(tokens_);
  for (int64_t i = 0; i < n_; ++i)
    for (int64_t j = i; j < n_; ++j) h[size_t(i * n_ + j)] = h[size_t(j * n_ + i)] = s * sum_[size_t(i * n_ + j)];
  return h;
}

}  // namespace quantlab
