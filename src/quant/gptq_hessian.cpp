#include "quantlab/quant/gptq_hessian.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/phase_times.hpp"

#include <algorithm>
#include <string>

namespace quantlab {

GptqHessian::GptqHessian(Backend& backend, Tensor sums, double scale)
    : be_(&backend), sums_(std::move(sums)), scale_(scale), n_(sums_.rows) {
  if (sums_.format != FormatId::F64 || sums_.rows != sums_.cols)
    throw Error("", "hessian", "must be a square F64 matrix");
  diag_.resize(static_cast<size_t>(n_));
  be_->read_diagonal(sums_, diag_);
  for (double& d : diag_) d *= scale_;
}

GptqHessian GptqHessian::from_host(Backend& backend, std::vector<double>& h, int64_t n) {
  if (int64_t(h.size()) != n * n) throw Error("", "hessian", "size does not match the weight's input dimension");
  return GptqHessian(backend, backend.place(host_tensor(FormatId::F64, h.data(), n, n)), 1.0);
}

int64_t GptqHessian::dead_count() const {
  return int64_t(std::count(diag_.begin(), diag_.end(), 0.0));
}

const GptqHessian::Factor& GptqHessian::factor(const std::vector<int64_t>& perm, double damp) {
  if (factor_ && factor_perm_ == perm && factor_damp_ == damp) return *factor_;
  const PhaseScope phase("gptq.factor");
  if (int64_t(perm.size()) != n_) throw Error("", "hessian", "the order does not name every input once");
  factor_.reset();  // the old factor goes first: one n x n factor at a time
  // The undamped diagonal in processing order, and its mean summed in that order.
  std::vector<double> diag(static_cast<size_t>(n_)), damped(static_cast<size_t>(n_));
  double mean = 0;
  for (int64_t i = 0; i < n_; ++i) mean += diag[size_t(i)] = gptq_diagonal(perm[size_t(i)]);
  mean /= double(n_);
  Tensor u = be_->alloc(FormatId::F64, n_, n_);
  const double asked = damp;
  for (int attempt = 0;; ++attempt) {
    // From the sums each time, so a retry adds exactly its own damping.
    for (int64_t i = 0; i < n_; ++i) damped[size_t(i)] = diag[size_t(i)] + damp * mean;
    be_->hessian_in_order(sums_, scale_, perm, damped, u);
    if (be_->inverse_upper_cholesky(u)) break;
    if (attempt == 6) throw Error("", "hessian", "not positive definite even with damping " + std::to_string(damp));
    damp = std::max(damp * 10, 0.01);
  }
  factor_perm_ = perm;
  factor_damp_ = asked;
  factor_ = Factor{std::move(u), damp};
  return *factor_;
}

}  // namespace quantlab
