// The percentile bootstrap against numpy (tests/eval/fixtures/bootstrap/reference.json, made by
// tools/make-bootstrap-fixture.py): numpy.percentile's linear quantiles, and the exact bootstrap
// distribution of a small sample's mean (all n^n resamples enumerated), which a Monte Carlo run
// with many resamples must reproduce.
#include "quantlab/core/error.hpp"
#include "quantlab/eval/bootstrap.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace quantlab {
namespace {

nlohmann::json reference() {
  std::ifstream f(test::source_dir() / "tests/eval/fixtures/bootstrap/reference.json");
  return nlohmann::json::parse(f);
}

TEST(Bootstrap, LinearQuantileEqualsNumpyPercentile) {
  const auto ref = reference();
  ASSERT_GE(ref["quantiles"].size(), 20u);
  for (const auto& c : ref["quantiles"]) {
    const auto v = c["sorted"].get<std::vector<double>>();
    EXPECT_NEAR(linear_quantile(v, c["q"].get<double>()), c["value"].get<double>(), 1e-12)
        << "n=" << v.size() << " q=" << c["q"];
  }
}

// Exact distribution of the resampled mean: P(mean <= x) from the enumerated sums.
double exact_cdf(const nlohmann::json& e, double mean) {
  const auto support = e["sum_support"].get<std::vector<int64_t>>();
  const auto counts = e["sum_counts"].get<std::vector<int64_t>>();
  const double n = double(e["sample"].size());
  int64_t below = 0;
  for (size_t i = 0; i < support.size(); ++i)
    if (double(support[i]) / n <= mean + 1e-12) below += counts[i];
  return double(below) / e["resamples_enumerated"].get<double>();
}

TEST(Bootstrap, ManyResamplesReproduceTheExactBootstrapDistribution) {
  const auto e = reference()["exact_bootstrap"];
  const auto sample = e["sample"].get<std::vector<double>>();
  const MeanInterval ci = bootstrap_mean(sample, {200000, 0.95, 7});
  EXPECT_EQ(ci.n, 6);
  EXPECT_DOUBLE_EQ(ci.mean, 27.0 / 6.0);
  // The means live on a lattice of step 1/6; 200k resamples put each quantile on numpy's exact one
  // (the Monte Carlo error of a 2.5 % quantile's coverage is ~0.0004 here).
  EXPECT_NEAR(ci.low, e["p2_5"].get<double>(), 1.0 / 6 + 1e-9);
  EXPECT_NEAR(ci.high, e["p97_5"].get<double>(), 1.0 / 6 + 1e-9);
  EXPECT_NEAR(exact_cdf(e, ci.low - 1.0 / 12), 0.025, 0.02);
  EXPECT_GE(exact_cdf(e, ci.low), 0.025 - 0.002);
  EXPECT_LE(exact_cdf(e, ci.high - 1.0 / 12), 0.975 + 0.002);
  EXPECT_GE(exact_cdf(e, ci.high), 0.975 - 0.002);
}

TEST(Bootstrap, SameSeedSameIntervalOtherSeedOtherResamples) {
  const std::vector<float> r = test::randoms(50, 3);
  const std::vector<double> v(r.begin(), r.end());
  const MeanInterval a = bootstrap_mean(v, {500, 0.9, 11}), b = bootstrap_mean(v, {500, 0.9, 11});
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  const MeanInterval c = bootstrap_mean(v, {500, 0.9, 12});
  EXPECT_TRUE(a.low != c.low || a.high != c.high);
  EXPECT_LT(a.low, a.mean);
  EXPECT_GT(a.high, a.mean);
  // Wider coverage, wider interval (same resamples).
  const MeanInterval w = bootstrap_mean(v, {500, 0.99, 11});
  EXPECT_LE(w.low, a.low);
  EXPECT_GE(w.high, a.high);
}

TEST(Bootstrap, ClosedFormCases) {
  const std::vector<double> constant(9, 2.5);
  const MeanInterval c = bootstrap_mean(constant, {100, 0.95, 0});
  EXPECT_EQ(c.low, 2.5);
  EXPECT_EQ(c.high, 2.5);
  const MeanInterval one = bootstrap_mean(std::vector<double>{4.0}, {100, 0.95, 0});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.low, 4.0);
  EXPECT_EQ(bootstrap_mean(std::vector<double>{}, {100, 0.95, 0}).n, 0);
  // A paired difference that is the same on every item has a zero-width interval at that value.
  const std::vector<double> a{1, 5, 2, 8}, b{0.5, 4.5, 1.5, 7.5};
  const MeanInterval d = bootstrap_paired_difference(a, b, {300, 0.95, 1});
  EXPECT_DOUBLE_EQ(d.mean, 0.5);
  EXPECT_DOUBLE_EQ(d.low, 0.5);
  EXPECT_DOUBLE_EQ(d.high, 0.5);
}

TEST(Bootstrap, BadOptionsNameTheField) {
  const std::vector<double> v{1, 2};
  test::expect_typed([&] { bootstrap_mean(v, {0, 0.95, 0}); }, "bootstrap", "resamples");
  test::expect_typed([&] { bootstrap_mean(v, {10, 1.0, 0}); }, "bootstrap", "level");
  test::expect_typed([&] { bootstrap_paired_difference(v, std::vector<double>{1}, {10, 0.9, 0}); }, "bootstrap", "pairs");
}

}  // namespace
}  // namespace quantlab
