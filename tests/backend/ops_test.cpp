// Element-wise ops and attention against direct double-precision formulas.
#include "quantlab/backend/ops.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace quantlab {
namespace {

using test::randoms;

TEST(RmsNorm, MatchesFormula) {
  const auto x = randoms(67, 1, 3.0f), w = randoms(67, 2);
  std::vector<float> y(67);
  rms_norm(x.data(), w.data(), y.data(), 67, 1e-6f);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double inv = 1.0 / std::sqrt(ss / 67 + 1e-6);
  for (size_t i = 0; i < 67; ++i) EXPECT_NEAR(y[i], x[i] * inv * w[i], 1e-5 * std::fabs(x[i] * inv * w[i]) + 1e-7);
}

TEST(Rope, NormalAndNeoxRotateTheirPairsByPosTimesFrequency) {
  const int64_t hd = 16;
  RopeParams p;
  p.n_rot = hd;
  p.freq_base = 500.0f;
  const std::vector<float> ff = {1, 1, 2, 2, 4, 4, 8, 8};
  for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
    for (bool with_factors : {false, true}) {
      p.style = style;
      p.freq_factors = with_factors ? ff.data() : nullptr;
      const auto x = randoms(2 * hd, 7);
      std::vector<float> y = x, c(hd / 2), s(hd / 2);
      const int64_t pos = 37;
      rope_angles(p, pos, c.data(), s.data());
      rope_apply(p, c.data(), s.data(), y.data(), 2, hd);
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t i = 0; i < hd / 2; ++i) {
          const double theta = pos * std::pow(500.0, -2.0 * double(i) / hd) / (with_factors ? ff[size_t(i)] : 1.0);
          const int64_t a = h * hd + (style == RopeStyle::Normal ? 2 * i : i);
          const int64_t b = h * hd + (style == RopeStyle::Normal ? 2 * i + 1 : i + hd / 2);
          EXPECT_NEAR(y[size_t(a)], x[size_t(a)] * std::cos(theta) - x[size_t(b)] * std::sin(theta), 2e-5);
          EXPECT_NEAR(y[size_t(b)], x[size_t(a)] * std::sin(theta) + x[size_t(b)] * std::cos(theta), 2e-5);
        }
    }
  }
}

TEST(Softmax, SumsToOneAndKeepsRatios) {
  auto x = randoms(100, 3, 5.0f);
  const auto orig = x;
  softmax(x.data(), 100);
  double sum = 0;
  for (float v : x) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(std::log(double(x[3]) / x[7]), double(orig[3]) - orig[7], 1e-4);
}

TEST(Attention, MatchesNaiveGqaWithCausalMaskAndIsThreadCountInvariant) {
  AttentionShape s{4, 2, 8, 1.0f / std::sqrt(8.0f)};
  const int64_t past = 5, n = 6, total = past + n;
  const auto q = randoms(size_t(n * 32), 11), k = randoms(size_t(total * 16), 12), v = randoms(size_t(total * 16), 13);
  // The key cache transposed per head, with room for more positions than filled (stride 13).
  const int64_t stride = 13;
  std::vector<float> kt(size_t(2 * 8 * stride), 1e30f);
  for (int64_t j = 0; j < total; ++j)
    for (int64_t i = 0; i < 16; ++i) kt[size_t(i * stride + j)] = k[size_t(j * 16 + i)];
  std::vector<float> out1(size_t(n * 32)), out2(out1.size());
  ThreadPool p1(1), p2(2);
  attention(p1, s, q.data(), kt.data(), stride, v.data(), past, n, out1.data());
  attention(p2, s, q.data(), kt.data(), stride, v.data(), past, n, out2.data());
  EXPECT_EQ(0, std::memcmp(out1.data(), out2.data(), out1.size() * 4));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < 4; ++h) {
      const int64_t kvh = h / 2, keys = past + t + 1;
      std::vector<double> w(static_cast<size_t>(keys));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < keys; ++j) {
        double d = 0;
        for (int64_t e = 0; e < 8; ++e) d += double(q[size_t(t * 32 + h * 8 + e)]) * k[size_t(j * 16 + kvh * 8 + e)];
        w[size_t(j)] = d * s.scale;
        mx = std::max(mx, w[size_t(j)]);
      }
      for (auto& x : w) sum += (x = std::exp(x - mx));
      for (int64_t e = 0; e < 8; ++e) {
        double o = 0;
        for (int64_t j = 0; j < keys; ++j) o += w[size_t(j)] / sum * v[size_t(j * 16 + kvh * 8 + e)];
        EXPECT_NEAR(out1[size_t(t * 32 + h * 8 + e)], o, 1e-5);
      }
    }
}

TEST(Swiglu, IsSiluOfGateTimesUp) {
  const std::vector<float> g = {-3.0f, 0.0f, 0.5f, 4.0f}, u = {2.0f, 5.0f, -1.0f, 0.25f};
  std::vector<float> o(4);
  swiglu(g.data(), u.data(), o.data(), 4);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(o[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-6);
}

}  // namespace
}  // namespace quantlab
