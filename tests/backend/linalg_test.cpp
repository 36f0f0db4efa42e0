// The quantizers' linear algebra (backend/linalg.hpp): the blocked kernels against plain loops
// written from each function's stated order of operations, bit for bit, at sizes that leave every
// tile remainder; and against the mathematics (L Lᵀ = M, X L = I) with tolerances.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/linalg.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/backend/thread_pool.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

using namespace quantlab;

namespace {

// Activations with a few large channels, as real ones have (the products then span many scales).
std::vector<float> activations(int64_t tokens, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(size_t(tokens * n));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < n; ++i) x[size_t(t * n + i)] = d(rng) * (i % 7 == 3 ? 40.0f : 1.0f);
  return x;
}

// Symmetric positive definite, row-major, from the Gram matrix of random activations.
std::vector<double> spd(int64_t n, unsigned seed) {
  const std::vector<float> x = activations(2 * n + 3, n, seed);
  std::vector<double> m(size_t(n * n), 0.0);
  for (int64_t t = 0; t < 2 * n + 3; ++t)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) m[size_t(i * n + j)] += double(x[size_t(t * n + i)]) * x[size_t(t * n + j)];
  for (int64_t i = 0; i < n; ++i) m[size_t(i * n + i)] += 0.5;
  return m;
}

// linalg.hpp's dot: lane k mod 8 takes its terms in increasing k, then the fixed tree.
double reference_dot(const double* a, const double* b, int64_t begin, int64_t end) {
  double l[8] = {};
  for (int64_t k = begin; k < end; ++k) l[k % 8] = std::fma(a[k], b[k], l[k % 8]);
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

bool reference_cholesky(std::vector<double>& m, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j)
      m[size_t(i * n + j)] = (m[size_t(i * n + j)] - reference_dot(&m[size_t(i * n)], &m[size_t(j * n)], 0, j)) /
                             m[size_t(j * n + j)];
    const double d = m[size_t(i * n + i)] - reference_dot(&m[size_t(i * n)], &m[size_t(i * n)], 0, i);
    if (!(d > 0)) return false;
    m[size_t(i * n + i)] = std::sqrt(d);
  }
  return true;
}

void reference_inverse(std::vector<double>& m, int64_t n) {
  std::vector<double> ldiag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ldiag[size_t(i)] = m[size_t(i * n + i)];
  for (int64_t c = 0; c < n; ++c) m[size_t(c * n + c)] = 1.0 / ldiag[size_t(c)];
  for (int64_t c = 0; c < n; ++c)
    for (int64_t i = c + 1; i < n; ++i)
      m[size_t(c * n + i)] = -reference_dot(&m[size_t(i * n)], &m[size_t(c * n)], c, i) / ldiag[size_t(i)];
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST(Gram, BlockedKernelAddsEachElementInTokenOrder) {
  for (int64_t n : {1, 5, 16, 37, 70}) {
    const int64_t tokens = 301;
    const std::vector<float> x = activations(tokens, n, unsigned(n));
    std::vector<double> want(size_t(n * n), -7.0), got = want;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) {
        double s = want[size_t(i * n + j)];
        for (int64_t t = 0; t < tokens; ++t) s += double(x[size_t(t * n + i)]) * double(x[size_t(t * n + j)]);
        want[size_t(i * n + j)] = s;
      }
    gram_accumulate(got.data(), x.data(), tokens, n);
    EXPECT_TRUE(same_bits(want, got)) << "n = " << n;  // the strict lower triangle is untouched too
  }
}

TEST(Gram, SplitCallsAndThreadsGiveTheBitsOfOneCall) {
  const int64_t n = 45, tokens = 700;
  const std::vector<float> x = activations(tokens, n, 3);
  std::vector<double> one(size_t(n * n), 0.0), split = one, threaded = one;
  gram_accumulate(one.data(), x.data(), tokens, n);
  for (int64_t t0 = 0, step = 1; t0 < tokens; t0 += step, step = step * 3 + 1)
    gram_accumulate(split.data(), x.data() + t0 * n, std::min(step, tokens - t0), n);
  ThreadPool pool(3);
  gram_accumulate(threaded.data(), x.data(), tokens, n, &pool);
  EXPECT_TRUE(same_bits(one, split));
  EXPECT_TRUE(same_bits(one, threaded));
}

TEST(Cholesky, BlockedFactorIsTheElementwiseDefinitionBitForBit) {
  for (int64_t n : {1, 3, 4, 8, 13, 24, 41, 66}) {
    const std::vector<double> m = spd(n, unsigned(n));
    std::vector<double> want = m, got = m;
    ASSERT_TRUE(reference_cholesky(want, n));
    ASSERT_TRUE(cholesky_lower(got.data(), n));
    EXPECT_TRUE(same_bits(want, got)) << "n = " << n;
    double worst = 0;  // L Lᵀ = M
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int64_t k = 0; k <= j; ++k) s += got[size_t(i * n + k)] * got[size_t(j * n + k)];
        worst = std::max(worst, std::fabs(s - m[size_t(i * n + j)]) / std::sqrt(m[size_t(i * n + i)] * m[size_t(j * n + j)]));
      }
    EXPECT_LT(worst, 1e-12) << "n = " << n;
  }
}

TEST(Cholesky, NotPositiveDefiniteIsRefused) {
  const int64_t n = 20;
  std::vector<double> m = spd(n, 9);
  m[size_t(11 * n + 11)] = -1.0;
  EXPECT_FALSE(cholesky_lower(m.data(), n));
}

TEST(TriangularInverse, BlockedInverseIsTheElementwiseDefinitionBitForBit) {
  for (int64_t n : {1, 2, 5, 8, 12, 19, 40, 67}) {
    std::vector<double> l = spd(n, unsigned(100 + n));
    ASSERT_TRUE(cholesky_lower(l.data(), n));
    std::vector<double> want = l, got = l;
    reference_inverse(want, n);
    invert_lower_transposed(got.data(), n);
    EXPECT_TRUE(same_bits(want, got)) << "n = " << n;
    double worst = 0;  // X L = I, X[i][k] at got[k*n + i]
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int64_t k = j; k <= i; ++k) s += got[size_t(k * n + i)] * (k == j ? l[size_t(k * n + k)] : l[size_t(k * n + j)]);
        worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(worst, 1e-10) << "n = " << n;
  }
}

TEST(LazyUpdate, BlockedProductIsTheSequentialSumPerElement) {
  const int64_t m = 39, n = 75, k = 21, lda = m + 2, ldb = n + 1, ldc = n + 3;
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  std::vector<float> a(size_t(k * lda)), b(size_t(k * ldb)), c(size_t(m * ldc));
  for (float& v : a) v = d(rng);
  for (float& v : b) v = d(rng);
  for (float& v : c) v = d(rng);
  std::vector<float> want = c, got = c;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < k; ++p) s = std::fma(a[size_t(p * lda + i)], b[size_t(p * ldb + j)], s);
      want[size_t(i * ldc + j)] -= s;
    }
  subtract_transposed_product(got.data(), ldc, a.data(), lda, b.data(), ldb, m, n, k);
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
}

// The backend ops GPTQ calls are linalg.hpp's kernels on the CPU: a double `a` (a view of columns
// of U) is rounded to f32 element by element, then the same sequence runs.
TEST(LazyUpdate, CpuBackendOpIsTheKernelOnRoundedValues) {
  ThreadPool pool(2);
  const std::unique_ptr<Backend> be = make_cpu_backend(pool);
  const int64_t k = 9, width = 40, first = 7, m = 25, n = 33;
  std::mt19937 rng(8);
  std::normal_distribution<double> d;
  std::vector<double> a(size_t(k * width));
  std::vector<float> b(size_t(k * n)), c(size_t(m * n));
  for (double& v : a) v = d(rng);
  for (float& v : b) v = float(d(rng));
  for (float& v : c) v = float(d(rng));
  std::vector<float> rounded(size_t(k * m)), want = c, got = c;
  for (int64_t p = 0; p < k; ++p)
    for (int64_t i = 0; i < m; ++i) rounded[size_t(p * m + i)] = float(a[size_t(p * width + first + i)]);
  subtract_transposed_product(want.data(), n, rounded.data(), m, b.data(), n, m, n, k);
  const Tensor at = host_tensor(FormatId::F64, a.data(), k, width).columns(first, m);
  const Tensor bt = host_tensor(FormatId::F32, b.data(), k, n);
  Tensor ct = host_tensor(FormatId::F32, got.data(), m, n);
  be->subtract_transposed_product(at, bt, ct);
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
  Tensor wrong = host_tensor(FormatId::F32, got.data(), m - 1, n);
  EXPECT_THROW(be->subtract_transposed_product(at, bt, wrong), Error);
}

TEST(TensorView, ColumnsOfAPlainFormatAndRefusalForBlocks) {
  std::vector<double> v(6 * 10);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  const Tensor t = host_tensor(FormatId::F64, v.data(), 6, 10).columns(3, 4);
  EXPECT_EQ(t.cols, 4);
  EXPECT_EQ(t.row_stride, 10 * sizeof(double));
  EXPECT_EQ(reinterpret_cast<const double*>(t.row(2))[1], 24.0);
  EXPECT_THROW(host_tensor(FormatId::F64, v.data(), 6, 10).columns(8, 3), Error);
  std::vector<uint8_t> q(34 * 2);
  EXPECT_THROW(host_tensor(FormatId::Q8_0, q.data(), 1, 64).columns(0, 32), Error);
}
