#include "quantlab/quant/hessian.hpp"

#include "quantlab/backend/linalg.hpp"

namespace quantlab {

void HessianAccumulator::add(const float* x, int64_t tokens) {
  if (tokens <= 0) return;
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // first tokens, or first after take_hessian()
  gram_accumulate(sum_.data(), x, tokens, n_, pool_);
  tokens_ += tokens;
}

std::vector<double> hessian_from_gram(std::vector<double> h, int64_t n, int64_t tokens) {
  const double s = tokens == 0 ? 0.0 : 2.0 / double(tokens);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) h[size_t(i * n + j)] = h[size_t(j * n + i)] = s * h[size_t(i * n + j)];
  return h;
}

std::vector<double> HessianAccumulator::take_hessian() {
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // nothing added since the last take
  std::vector<double> h = hessian_from_gram(std::move(sum_), n_, tokens_);
  sum_ = {};
  tokens_ = 0;
  return h;
}

}  // namespace quantlab
