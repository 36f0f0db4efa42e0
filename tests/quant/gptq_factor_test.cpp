// GPTQ's Hessian work: the inverse factor, its retry path, act-order's reordering and the shared factor.
#include "quantlab/backend/linalg.hpp"
#include "quantlab/core/error.hpp"
#include "src/quant/gptq_sweep.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

using namespace quantlab;

namespace {

// X^T X / tokens + 0.1 I over random tokens: symmetric positive definite.
std::vector<double> spd(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d;
  const int64_t tokens = 3 * n;
  std::vector<double> x(size_t(tokens * n)), h(size_t(n * n), 0.0);
  for (double& v : x) v = d(rng);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[size_t(i * n + j)] += x[size_t(t * n + i)] * x[size_t(t * n + j)] / double(tokens);
  for (int64_t i = 0; i < n; ++i) h[size_t(i * n + i)] += 0.1;
  return h;
}

}  // namespace

TEST(GptqFactor, InPlaceFactorIsUpperAndInvertsH) {
  const int64_t n = 37;
  const std::vector<double> h = spd(n, 1);
  std::vector<double> u = h;
  ASSERT_TRUE(inverse_upper_cholesky(u.data(), n));
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_GT(u[size_t(i * n + i)], 0.0);
    for (int64_t j = 0; j < i; ++j) EXPECT_EQ(u[size_t(i * n + j)], 0.0) << i << "," << j;
  }
  // (U^T U) H = I.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) {
        double inv_ik = 0;
        for (int64_t m = 0; m <= std::min(i, k); ++m) inv_ik += u[size_t(m * n + i)] * u[size_t(m * n + k)];
        s += inv_ik * h[size_t(k * n + j)];
      }
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-9) << i << "," << j;
    }
}

TEST(GptqFactor, FailedFactorRestoresTheMatrixBitForBit) {
  const int64_t n = 16;
  std::vector<double> h = spd(n, 2);
  h[size_t(5 * n + 5)] = -1.0;  // not positive definite
  const std::vector<double> before = h;
  EXPECT_FALSE(inverse_upper_cholesky(h.data(), n));
  EXPECT_EQ(0, std::memcmp(before.data(), h.data(), h.size() * sizeof(double)));
}

TEST(GptqFactor, DampingRetryStartsFromTheUndampedDiagonal) {
  // diag(1, 1, 1, -0.005): 0.1 % damping leaves it indefinite, the retry with 1 % must add 1 % of
  // the mean diagonal to the undamped matrix (not 1.1 %, as stacking the attempts would).
  const int64_t n = 4;
  std::vector<double> h(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) h[size_t(i * n + i)] = i + 1 < n ? 1.0 : -0.005;
  const double mean = (3.0 - 0.005) / 4.0;
  GptqHessian hessian = GptqHessian::from_host(gptq_detail::host_backend(), h, n);
  const GptqHessian::Factor& f = hessian.factor({0, 1, 2, 3}, 0.001);
  EXPECT_DOUBLE_EQ(f.damp, 0.01);
  for (int64_t i = 0; i < n; ++i) {
    const double d = (i + 1 < n ? 1.0 : -0.005) + 0.01 * mean;
    const double u = reinterpret_cast<const double*>(f.u.row(i))[i];
    EXPECT_NEAR(u, 1.0 / std::sqrt(d), 1e-9 / std::sqrt(d)) << i;
  }
  // Asked again in the same order, the factor is the one already made (the stage's linears share it).
  EXPECT_EQ(hessian.factor({0, 1, 2, 3}, 0.001).u.data, f.u.data);
}

// The Hessian in processing order reads only the upper triangle of the sums, scales it, and takes
// the diagonal given: the matrix a copy would give.
TEST(GptqFactor, HessianInOrderMatchesAPermutedCopy) {
  const int64_t n = 23;
  const std::vector<double> h = spd(n, 3);
  std::vector<double> upper = h;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) upper[size_t(i * n + j)] = std::nan("");  // never read
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(4));
  std::vector<double> diag(static_cast<size_t>(n)), got(size_t(n * n));
  for (int64_t i = 0; i < n; ++i) diag[size_t(i)] = 100.0 + double(i);
  Tensor out = host_tensor(FormatId::F64, got.data(), n, n);
  gptq_detail::host_backend().hessian_in_order(host_tensor(FormatId::F64, upper.data(), n, n), 0.5, perm, diag, out);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_EQ(got[size_t(i * n + j)], i == j ? diag[size_t(i)] : 0.5 * h[size_t(perm[size_t(i)] * n + perm[size_t(j)])])
          << i << "," << j;
  std::vector<double> d(static_cast<size_t>(n));
  gptq_detail::host_backend().read_diagonal(out, d);
  EXPECT_EQ(d, diag);
  perm[0] = perm[1];
  EXPECT_THROW(gptq_detail::host_backend().hessian_in_order(host_tensor(FormatId::F64, upper.data(), n, n), 0.5, perm,
                                                            diag, out),
               Error);
}
