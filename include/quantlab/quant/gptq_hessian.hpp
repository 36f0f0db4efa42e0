#pragma once
// GPTQ's Hessian of the linears that read one input (Q/K/V, gate/up), prepared once for all of
// them on the device that summed it: its diagonal on the host (act-order's order, the importance
// of GGUF fits, dead inputs), and the damped inverse factor U (H⁻¹ = UᵀU) in a processing order,
// computed once per order: linears that share the order (every integer-grid GPTQ of one group)
// share the factor. On a GPU the n x n matrices never come to the host.
#include "quantlab/backend/backend.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace quantlab {

class GptqHessian {
 public:
  // H = scale * sums, where `sums` is an n x n F64 tensor on `backend`'s device of which the upper
  // triangle (i <= j) holds the values (Backend::gram_accumulate's sums, scale 2/N; or a full
  // symmetric H, scale 1). The tensor is kept (the factor is re-made from it when damping must
  // grow). Throws if the tensor is not square F64.
  GptqHessian(Backend& backend, Tensor sums, double scale);
  // A full symmetric H in host memory (placed on `backend`'s device: a copy on a GPU, a view on
  // the CPU, which then uses `h`'s storage: keep it alive).
  static GptqHessian from_host(Backend& backend, std::vector<double>& h, int64_t n);

  int64_t n() const { return n_; }
  Backend& backend() const { return *be_; }
  // H's diagonal as summed (an input never seen non-zero has 0; NaN/Inf when activations overflowed).
  const std::vector<double>& diagonal() const { return diag_; }
  // GPTQ's diagonal: dead inputs (diagonal 0: their weights cannot matter and are zeroed) count 1,
  // which keeps H invertible.
  double gptq_diagonal(int64_t c) const { return dead(c) ? 1.0 : diag_[size_t(c)]; }
  bool dead(int64_t c) const { return diag_[size_t(c)] == 0; }
  int64_t dead_count() const;

  struct Factor {
    Tensor u;     // upper U with (H + damp * mean(diag H) * I)^-1 = UᵀU in the order asked, n x n F64
    double damp;  // the damping finally used
  };
  // The factor of H with rows and columns in order `perm` (processing position i holds input
  // perm[i]), dead inputs' diagonal 1, damped by `damp` of the mean diagonal; a Hessian that is not
  // positive definite gets 10x more damping (at least 1 %) instead of failing, up to 6 times. The
  // last factor is kept: asking again with the same order and damping returns it.
  const Factor& factor(const std::vector<int64_t>& perm, double damp);

 private:
  Backend* be_;
  Tensor sums_;
  double scale_;
  int64_t n_;
  std::vector<double> diag_;
  std::vector<int64_t> factor_perm_;
  double factor_damp_ = 0;
  std::optional<Factor> factor_;
};

}  // namespace quantlab
