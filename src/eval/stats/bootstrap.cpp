#include "quantlab/eval/bootstrap.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

namespace quantlab {

double linear_quantile(std::span<const double> sorted, double q) {
  if (sorted.empty()) throw Error("bootstrap", "values", "no values to take a quantile of");
  if (!(q >= 0 && q <= 1)) throw Error("bootstrap", "quantile", "must be in [0, 1]");
  const double h = q * double(sorted.size() - 1);
  const auto lo = size_t(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - double(lo)) * (sorted[hi] - sorted[lo]);
}

namespace {

double mean_of(std::span<const double> v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

}  // namespace

MeanInterval bootstrap_mean(std::span<const double> values, const BootstrapOptions& o) {
  if (o.resamples < 1) throw Error("bootstrap", "resamples", "must be at least 1, got " + std::to_string(o.resamples));
  if (!(o.level > 0 && o.level < 1)) throw Error("bootstrap", "level", "must be in (0, 1)");
  MeanInterval r;
  r.n = int64_t(values.size());
  r.mean = mean_of(values);
  r.low = r.high = r.mean;
  if (values.size() < 2) return r;
  std::mt19937_64 rng(o.seed);
  const auto n = uint64_t(values.size());
  std::vector<double> means(size_t(o.resamples));
  for (double& m : means) {
    double s = 0;
    // 53 random bits -> [0, 1) -> index; the bias of floor(u * n) is below 2^-40 for any n we see.
    for (uint64_t i = 0; i < n; ++i) s += values[size_t(double(rng() >> 11) * 0x1.0p-53 * double(n))];
    m = s / double(n);
  }
  std::sort(means.begin(), means.end());
  r.low = linear_quantile(means, (1 - o.level) / 2);
  r.high = linear_quantile(means, (1 + o.level) / 2);
  return r;
}

MeanInterval bootstrap_paired_difference(std::span<const double> a, std::span<const double> b,
                                         const BootstrapOptions& o) {
  if (a.size() != b.size())
    throw Error("bootstrap", "pairs", std::to_string(a.size()) + " values against " + std::to_string(b.size()));
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return bootstrap_mean(d, o);
}

}  // namespace quantlab
