#include "quantlab/core/error.hpp"
#include "quantlab/eval/kld.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace quantlab;

namespace {
std::vector<float> random_logits(int64_t n, std::mt19937_64& rng, float spread) {
  std::normal_distribution<float> d(0, spread);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

double exact_kld(const std::vector<float>& base, const std::vector<float>& test) {
  auto log_softmax = [](const std::vector<float>& l) {
    double m = *std::max_element(l.begin(), l.end()), s = 0;
    for (float x : l) s += std::exp(x - m);
    std::vector<double> r;
    for (float x : l) r.push_back(x - m - std::log(s));
    return r;
  };
  const auto a = log_softmax(base), b = log_softmax(test);
  double k = 0;
  for (size_t i = 0; i < a.size(); ++i) k += std::exp(a[i]) * (a[i] - b[i]);
  return k;
}
}  // namespace

TEST(Kld, IdenticalModelsGiveZero) {
  std::mt19937_64 rng(1);
  const int64_t V = 1000;
  KldAccumulator acc;
  std::vector<uint16_t> words(size_t(compressed_logprob_words(V)));
  for (int t = 0; t < 200; ++t) {
    // spread 2 keeps every logit within the 16 nats the compressed format resolves
    const auto l = random_logits(V, rng, 2);
    compress_logprobs(l.data(), V, t % V, words.data());
    acc.add(l.data(), words.data(), V, t % V);
  }
  const auto s = acc.summary();
  EXPECT_EQ(s.count, 200);
  EXPECT_NEAR(s.kld_mean, 0, 1e-4);
  EXPECT_DOUBLE_EQ(s.same_top, 1.0);
  EXPECT_NEAR(s.ppl / s.ppl_base, 1.0, 1e-3);
  EXPECT_NEAR(s.ppl_correlation, 1.0, 1e-3);
}

TEST(Kld, MatchesExactDivergence) {
  std::mt19937_64 rng(2);
  const int64_t V = 777;  // odd: exercises the padding word
  std::vector<uint16_t> words(size_t(compressed_logprob_words(V)));
  KldAccumulator acc;
  double exact = 0;
  std::normal_distribution<float> noise(0, 0.3f);
  for (int t = 0; t < 300; ++t) {
    const auto base = random_logits(V, rng, 2);
    auto test = base;
    for (auto& x : test) x += noise(rng);
    compress_logprobs(base.data(), V, 5, words.data());
    acc.add(test.data(), words.data(), V, 5);
    exact += exact_kld(base, test);
  }
  const auto s = acc.summary();
  EXPECT_NEAR(s.kld_mean, exact / 300, 2e-3 * exact / 300 + 1e-4);
  EXPECT_GT(s.kld_err, 0);
  EXPECT_LE(s.kld_median, s.kld_p90);
  EXPECT_LE(s.kld_p90, s.kld_p99);
  EXPECT_LE(s.kld_p99, s.kld_max);
  EXPECT_LT(s.same_top, 1.0);
}

TEST(Kld, BaseLogitsFileRoundTripAndTruncation) {
  const uint32_t n_ctx = 8;
  const int32_t V = 33;
  std::vector<int32_t> tokens(16);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(i * 3 % V);
  const auto path = (test::temp_dir("kld") / "base.kld").string();
  std::vector<uint16_t> chunk(size_t((n_ctx - 1 - n_ctx / 2) * compressed_logprob_words(V)));
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = uint16_t(i * 7);
  {
    BaseLogitsWriter w(path, n_ctx, V, tokens);
    w.add_chunk(chunk);
    w.add_chunk(chunk);
    w.finish();
  }
  BaseLogitsFile f(path);
  EXPECT_EQ(f.n_chunk(), 2);
  EXPECT_EQ(f.tokens(), tokens);
  EXPECT_EQ(f.chunk(1), chunk);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 2);
  EXPECT_THROW(BaseLogitsFile{path}, Error);
  {
    BaseLogitsWriter w((test::temp_dir("kld") / "partial.kld").string(), n_ctx, V, tokens);
    w.add_chunk(chunk);
  }  // abandoned: no file left
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir("kld") / "partial.kld"));
}
