#include "quantlab/model/sampler.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace quantlab {

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw Error("sampler", "logits", "empty");
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  if (!std::isfinite(params.temperature)) throw Error("sampler", "temperature", "must be finite");
  if (!(params.top_p > 0.0f)) throw Error("sampler", "top_p", "must be positive");
  if (!(params.min_p >= 0.0f && params.min_p <= 1.0f)) throw Error("sampler", "min_p", "must be in [0, 1]");
}

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(std::span<const float> logits) {
  if (params_.temperature <= 0.0f) return argmax(logits);
  struct Cand {
    int32_t id;
    float logit;
  };
  std::vector<Cand> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {int32_t(i), logits[i]};
  // A total order (ties broken by id) keeps the result independent of the sort algorithm.
  auto better = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  size_t n = c.size();
  if (params_.top_k > 0 && size_t(params_.top_k) < n) {
    n = size_t(params_.top_k);
    std::partial_sort(c.begin(), c.begin() + long(n), c.end(), better);
    c.resize(n);
  } else {
    std::sort(c.begin(), c.end(), better);
  }
  // Probabilities at temperature 1 for the top-p and min-p cuts (as llama.cpp's chain computes them).
  const float mx = c[0].logit;
  if (params_.top_p < 1.0f) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += std::exp(double(c[i].logit) - mx);
    double cum = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += std::exp(double(c[i].logit) - mx) / total;
      if (cum >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (params_.min_p > 0.0f) {
    const double floor_logit = double(mx) + std::log(double(params_.min_p));
    size_t keep = 1;
    while (keep < n && double(c[keep].logit) >= floor_logit) ++keep;
    n = keep;
  }
  std::vector<double> p(n);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::exp((double(c[i].logit) - mx) / params_.temperature);
    total += p[i];
  }
  const double u = uniform() * total;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += p[i];
    if (u < cum) return c[i].id;
  }
  return c[n - 1].id;
}

}  // namespace quantlab
