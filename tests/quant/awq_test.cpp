// AWQ's searches score candidates through the inputs' second moments; these tests hold that scoring
// to the direct one (AutoAWQ's: run the candidate on every token, compare the outputs) computed
// here in double from the tokens themselves.
#include "quantlab/quant/awq.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace quantlab {
namespace {

struct Tokens {
  int64_t n, cols;
  std::vector<float> x;  // [n][cols]
};

// Activations with a few large channels, as real LLM inputs have (AWQ's premise).
Tokens make_tokens(int64_t n, int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tokens t{n, cols, std::vector<float>(size_t(n * cols))};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) t.x[size_t(i * cols + c)] = normal(rng) * (c % 17 == 3 ? 20.0f : 1.0f);
  return t;
}

std::vector<float> make_weights(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = normal(rng);
  return w;
}

AwqInputStats stats_of(const Tokens& t) {
  AwqInputStats s;
  s.cols = t.cols;
  s.abs_mean.assign(size_t(t.cols), 0.0f);
  std::vector<double> g(size_t(t.cols * t.cols), 0.0), a(size_t(t.cols), 0.0);
  for (int64_t i = 0; i < t.n; ++i) {
    const float* x = t.x.data() + i * t.cols;
    for (int64_t r = 0; r < t.cols; ++r) {
      a[size_t(r)] += std::fabs(x[r]);
      for (int64_t c = 0; c < t.cols; ++c) g[size_t(r * t.cols + c)] += double(x[r]) * double(x[c]);
    }
  }
  s.moments.resize(g.size());
  for (size_t k = 0; k < g.size(); ++k) s.moments[k] = float(g[k] / double(t.n));
  for (size_t c = 0; c < a.size(); ++c) s.abs_mean[c] = float(a[c] / double(t.n));
  return s;
}

// Mean over tokens and rows of ((w_a - w_b) · x)², from the tokens.
double direct_mse(const Tokens& t, const float* wa, const float* wb, int64_t rows) {
  double sum = 0;
  for (int64_t i = 0; i < t.n; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      double d = 0;
      for (int64_t c = 0; c < t.cols; ++c)
        d += (double(wa[r * t.cols + c]) - double(wb[r * t.cols + c])) * double(t.x[size_t(i * t.cols + c)]);
      sum += d * d;
    }
  return sum / double(t.n * rows);
}

std::vector<float> fake_quantize(std::vector<float> w, int64_t cols, const IntGridSpec& grid) {
  const int64_t gs = grid.group_size <= 0 ? cols : grid.group_size;
  for (size_t r = 0; r < w.size() / size_t(cols); ++r)
    for (int64_t g = 0; g * gs < cols; ++g) {
      float* v = w.data() + int64_t(r) * cols + g * gs;
      const int64_t n = std::min(gs, cols - g * gs);
      const IntGroupParams p = fit_int_params(v, n, 1, grid);
      for (int64_t i = 0; i < n; ++i) v[i] = dequantize_code(quantize_code(v[i], p, grid.max_code()), p);
    }
  return w;
}

IntGridSpec awq_grid(int64_t group) {
  IntGridSpec g;
  g.bits = 4;
  g.group_size = group;
  g.rule = IntGridRule::AwqMinMax;
  return g;
}

TEST(AwqMoments, OutputMseEqualsTheErrorOnEveryToken) {
  const Tokens t = make_tokens(300, 96, 1);
  const AwqInputStats s = stats_of(t);
  const int64_t rows = 300;  // more than one block of rows
  const std::vector<float> w = make_weights(rows, t.cols, 2);
  const std::vector<float> q = fake_quantize(w, t.cols, awq_grid(32));
  std::vector<float> delta(w.size());
  for (size_t i = 0; i < w.size(); ++i) delta[i] = q[i] - w[i];
  ThreadPool pool(2);
  const double direct = direct_mse(t, q.data(), w.data(), rows);
  EXPECT_NEAR(awq_output_mse(pool, delta.data(), rows, s), direct, 1e-5 * direct);
}

TEST(AwqMoments, DividedInputsGiveTheMomentsOfTheDividedTokens) {
  Tokens t = make_tokens(50, 40, 3);
  AwqInputStats s = stats_of(t);
  std::vector<float> scale(size_t(t.cols));
  for (int64_t c = 0; c < t.cols; ++c) scale[size_t(c)] = 0.5f + 0.1f * float(c % 7);
  s.divide_inputs(scale);
  for (int64_t i = 0; i < t.n; ++i)
    for (int64_t c = 0; c < t.cols; ++c) t.x[size_t(i * t.cols + c)] /= scale[size_t(c)];
  const AwqInputStats expect = stats_of(t);
  // Dividing each input (f32) rounds it by up to 6e-8 of terms of order 1, so a moment near zero
  // (the terms cancel) keeps an absolute error of that order: a floor of 1e-7.
  for (size_t k = 0; k < s.moments.size(); ++k)
    EXPECT_NEAR(s.moments[k], expect.moments[k], 1e-5 * (std::fabs(expect.moments[k]) + 1e-2)) << k;
  for (size_t c = 0; c < s.abs_mean.size(); ++c) EXPECT_NEAR(s.abs_mean[c], expect.abs_mean[c], 1e-5) << c;
}

TEST(AwqScales, ReportedLossIsTheErrorOnTheTokensAndBeatsRoundToNearest) {
  const Tokens t = make_tokens(400, 128, 4);
  const AwqInputStats s = stats_of(t);
  std::vector<float> a = make_weights(64, t.cols, 5), b = make_weights(32, t.cols, 6);
  const IntGridSpec grid = awq_grid(64);
  AwqOptions opt;
  opt.n_grid = 10;
  ThreadPool pool(2);
  const AwqScaleResult r = awq_search_scales(pool, s, {{a.data(), 64}, {b.data(), 32}}, grid, opt);
  ASSERT_EQ(r.scales.size(), size_t(t.cols));

  // Direct loss of given scales: Q(W·s)/s vs W on every token, both linears' outputs together.
  auto loss_of = [&](const std::vector<float>& scales) {
    double sum = 0;
    for (const std::vector<float>* w : {&a, &b}) {
      std::vector<float> scaled(*w);
      const int64_t rows = int64_t(w->size()) / t.cols;
      for (int64_t i = 0; i < rows * t.cols; ++i) scaled[size_t(i)] *= scales[size_t(i % t.cols)];
      std::vector<float> q = fake_quantize(scaled, t.cols, grid);
      for (int64_t i = 0; i < rows * t.cols; ++i) q[size_t(i)] /= scales[size_t(i % t.cols)];
      sum += direct_mse(t, q.data(), w->data(), rows) * double(rows);
    }
    return sum / 96.0;
  };
  EXPECT_NEAR(r.loss, loss_of(r.scales), 1e-4 * r.loss);
  const std::vector<float> ones(size_t(t.cols), 1.0f);
  // Ratio 0 without duo scaling is plain RTN; with the outlier channels AWQ must do better.
  EXPECT_LT(r.loss, 0.9 * loss_of(ones)) << "ratio " << r.ratio;
  EXPECT_GT(r.ratio, 0.0);
}

TEST(AwqClip, EachGroupKeepsItsBestThresholdMeasuredOnTheTokens) {
  const Tokens t = make_tokens(256, 64, 7);
  const AwqInputStats s = stats_of(t);
  const int64_t rows = 12;
  const IntGridSpec grid = awq_grid(32);
  AwqOptions opt;
  const std::vector<float> w = make_weights(rows, t.cols, 8);
  std::vector<float> clipped = w;
  ThreadPool pool(2);
  awq_clip(pool, clipped.data(), rows, s, grid, opt);

  // Direct error of one (row, group) quantized after clamping at m, on the tokens.
  auto group_err = [&](int64_t r, int64_t g, float m) {
    std::vector<float> v(w.begin() + r * t.cols + g * 32, w.begin() + r * t.cols + g * 32 + 32);
    for (auto& x : v) x = std::clamp(x, -m, m);
    v = fake_quantize(v, 32, grid);
    double sum = 0;
    for (int64_t i = 0; i < t.n; ++i) {
      double d = 0;
      for (int64_t k = 0; k < 32; ++k)
        d += (double(v[size_t(k)]) - double(w[size_t(r * t.cols + g * 32 + k)])) * t.x[size_t(i * t.cols + g * 32 + k)];
      sum += d * d;
    }
    return sum;
  };
  int clipped_groups = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < 2; ++g) {
      float amax = 0, kept = 0;
      for (int64_t k = 0; k < 32; ++k) {
        amax = std::max(amax, std::fabs(w[size_t(r * t.cols + g * 32 + k)]));
        kept = std::max(kept, std::fabs(clipped[size_t(r * t.cols + g * 32 + k)]));
      }
      if (kept < amax) ++clipped_groups;
      const double chosen = group_err(r, g, kept);
      for (int k = 0; k < int(opt.max_shrink * opt.clip_grid); ++k) {
        const float m = amax * (1.0f - float(k) / float(opt.clip_grid));
        EXPECT_LE(chosen, group_err(r, g, m) * (1 + 1e-5)) << "row " << r << " group " << g << " shrink " << k;
      }
    }
  EXPECT_GT(clipped_groups, 0);  // the search is not a no-op on Gaussian weights at 4 bits
}

TEST(AwqMoments, ResultsDoNotDependOnTheThreadCount) {
  const Tokens t = make_tokens(200, 128, 9);
  const AwqInputStats s = stats_of(t);
  std::vector<float> w = make_weights(700, t.cols, 10);
  const IntGridSpec grid = awq_grid(64);
  ThreadPool one(1), four(4);
  const AwqScaleResult a = awq_search_scales(one, s, {{w.data(), 700}}, grid, {});
  const AwqScaleResult b = awq_search_scales(four, s, {{w.data(), 700}}, grid, {});
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.scales, b.scales);
  std::vector<float> c1 = w, c4 = w;
  awq_clip(one, c1.data(), 700, s, grid, {});
  awq_clip(four, c4.data(), 700, s, grid, {});
  EXPECT_EQ(c1, c4);
}

}  // namespace
}  // namespace quantlab
