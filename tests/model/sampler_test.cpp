#include "quantlab/model/sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace quantlab {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};

TEST(Sampler, GreedyTakesTheFirstLargest) {
  Sampler s(SamplingParams{});
  EXPECT_EQ(1, s.sample(kLogits));
  EXPECT_EQ(1, argmax(kLogits));
}

TEST(Sampler, TopK1IsGreedyAtAnyTemperature) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(1, s.sample(kLogits));
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentStream) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(kLogits));
    tb.push_back(b.sample(kLogits));
    tc.push_back(c.sample(kLogits));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  SamplingParams p;
  p.temperature = 2.0f;
  p.seed = 7;
  Sampler s(p);
  std::vector<int> counts(kLogits.size());
  const int n = 60000;
  for (int i = 0; i < n; ++i) counts[size_t(s.sample(kLogits))]++;
  double z = 0;
  for (float l : kLogits) z += std::exp(l / 2.0);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double expect = std::exp(kLogits[i] / 2.0) / z;
    EXPECT_NEAR(double(counts[i]) / n, expect, 4 * std::sqrt(expect * (1 - expect) / n) + 1e-3) << "token " << i;
  }
}

TEST(Sampler, TopPAndMinPCutTheTail) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1;
  p.top_p = 0.5f;  // ids 1 and 3 (tied top, ~0.33 each) reach 0.5 together
  Sampler tp(p);
  for (int i = 0; i < 300; ++i) {
    const int32_t t = tp.sample(kLogits);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
  p.top_p = 1.0f;
  p.min_p = 0.3f;  // exp(2-3) = 0.37 >= 0.3 keeps id 2; exp(1-3) = 0.14 drops id 0
  Sampler mp(p);
  for (int i = 0; i < 300; ++i) {
    const int32_t t = mp.sample(kLogits);
    EXPECT_TRUE(t == 1 || t == 2 || t == 3) << t;
  }
}

}  // namespace
}  // namespace quantlab
