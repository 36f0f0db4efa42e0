// GPTQ's Hessian accumulator: 2/N Σ x xᵀ from exact double sums, mirrored; the same bits with a
// thread pool sharing the rows and after a take (the accumulator starts again from nothing).
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/quant/hessian.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

using namespace quantlab;

TEST(Hessian, IsTwiceTheMeanOuterProductSummedInTokenOrder) {
  const int64_t n = 23, tokens = 517;
  std::mt19937 rng(4);
  std::normal_distribution<float> d;
  std::vector<float> x(size_t(tokens * n));
  for (float& v : x) v = d(rng);
  std::vector<double> want(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < tokens; ++t) s += double(x[size_t(t * n + i)]) * double(x[size_t(t * n + j)]);
      want[size_t(i * n + j)] = want[size_t(j * n + i)] = 2.0 / double(tokens) * s;
    }
  ThreadPool pool(3);
  HessianAccumulator serial(n), threaded(n, &pool);
  serial.add(x.data(), tokens);
  threaded.add(x.data(), 100);
  threaded.add(x.data() + 100 * n, tokens - 100);
  EXPECT_EQ(serial.tokens(), tokens);
  const std::vector<double> a = serial.take_hessian(), b = threaded.take_hessian();
  ASSERT_EQ(a.size(), want.size());
  EXPECT_EQ(0, std::memcmp(a.data(), want.data(), a.size() * sizeof(double)));
  EXPECT_EQ(0, std::memcmp(b.data(), want.data(), b.size() * sizeof(double)));
  // After a take the accumulator starts from nothing.
  EXPECT_EQ(serial.tokens(), 0);
  serial.add(x.data(), tokens);
  const std::vector<double> again = serial.take_hessian();
  EXPECT_EQ(0, std::memcmp(again.data(), want.data(), again.size() * sizeof(double)));
}
