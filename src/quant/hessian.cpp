#include "quantlab/quant/hessian.hpp"

#include <cblas.h>

#include <algorithm>

namespace quantlab {

void HessianAccumulator::flush() {
  // Per chunk, the f32 rank-k update (syrk) is exact enough; the running sum is kept in double.
  const int64_t k = int64_t(pending_.size()) / std::max<int64_t>(n_, 1);
  if (k == 0) return;
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // after take_hessian(): a fresh sum
  std::vector<float>& part = part_;
  part.resize(size_t(n_ * n_));
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(n_), int(k), 1.0f, pending_.data(), int(n_), 0.0f, part.data(),
              int(n_));
  for (int64_t i = 0; i < n_; ++i)
    for (int64_t j = i; j < n_; ++j) sum_[size_t(i * n_ + j)] += part[size_t(i * n_ + j)];
  pending_.clear();
}

void HessianAccumulator::add(const float* x, int64_t tokens) {
  pending_.reserve(size_t(kChunk * n_));
  for (int64_t t = 0; t < tokens;) {
    const int64_t have = int64_t(pending_.size()) / n_;
    const int64_t take = std::min(kChunk - have, tokens - t);
    pending_.insert(pending_.end(), x + t * n_, x + (t + take) * n_);
    t += take;
    if (have + take == kChunk) flush();
  }
  tokens_ += tokens;
}

std::vector<double> HessianAccumulator::take_hessian() {
  flush();
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // nothing added since the last take
  part_ = {};
  pending_ = {};
  std::vector<double> h = std::move(sum_);
  sum_ = {};
  const double s = tokens_ == 0 ? 0.0 : 2.0 / double(tokens_);
  for (int64_t i = 0; i < n_; ++i)
    for (int64_t j = i; j < n_; ++j) h[size_t(i * n_ + j)] = h[size_t(j * n_ + i)] = s * h[size_t(i * n_ + j)];
  tokens_ = 0;
  return h;
}

}  // namespace quantlab
