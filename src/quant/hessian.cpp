#include "quantlab/quant/hessian.hpp"

#include "quantlab/backend/linalg.hpp"

namespace quantlab {

void HessianAccumulator::add(const float* x, int64_t tokens) {
  if (tokens <= 0) return;
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // first tokens, or first after take_hessian()
  gram_accumulate(sum_.data(), x, tokens, n_, pool_);
  tokens_ += tokens;
}

std::vector<double> HessianAccumulator::take_hessian() {
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // nothing added since the last take
  std::vector<double> h = std::move(sum_);
  sum_ = {};
  const double s = tokens_ == 0 ? 0.0 : 2.0 / double(tokens_);
  for (int64_t i = 0; i < n_; ++i)
    for (int64_t j = i; j < n_; ++j) h[size_t(i * n_ + j)] = h[size_t(j * n_ + i)] = s * h[size_t(i * n_ + j)];
  tokens_ = 0;
  return h;
}

}  // namespace quantlab
