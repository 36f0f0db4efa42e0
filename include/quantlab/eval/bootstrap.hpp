#pragma once
// Percentile bootstrap confidence intervals for a mean (Efron's percentile method): resample the
// values with replacement `resamples` times, take each resample's mean, and report the empirical
// (1-level)/2 and (1+level)/2 quantiles of those means (numpy.percentile's default "linear" rule).
// The random stream is std::mt19937_64 from `seed`, turned into indices by hand (no standard-library
// distribution), so a seed gives the same interval with any compiler. Resampling draws n indices per
// resample in order, so the interval depends only on (values, resamples, level, seed).
#include <cstdint>
#include <span>
#include <vector>

namespace quantlab {

struct BootstrapOptions {
  int64_t resamples = 2000;
  double level = 0.95;  // two-sided coverage, in (0, 1)
  uint64_t seed = 0;
};

struct MeanInterval {
  int64_t n = 0;
  double mean = 0;
  double low = 0, high = 0;  // percentile interval; both equal the mean when n < 2
};

// Empirical quantile q in [0, 1] of `sorted` (ascending), linear between order statistics as
// numpy.percentile(values, 100*q) computes it by default. Throws on an empty input.
double linear_quantile(std::span<const double> sorted, double q);

// Bootstrap interval of the mean of `values`. Throws Error (field "resamples" / "level") on bad
// options; an empty input gives n = 0 and zeros.
MeanInterval bootstrap_mean(std::span<const double> values, const BootstrapOptions& options);

// Paired difference a[i] - b[i] (same items, e.g. one model and the base on the same prompts),
// bootstrapped as one series: the interval excludes 0 when the difference is more than resampling
// noise. Throws Error when the lengths differ.
MeanInterval bootstrap_paired_difference(std::span<const double> a, std::span<const double> b,
                                         const BootstrapOptions& options);

}  // namespace quantlab
