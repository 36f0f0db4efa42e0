#include "quantlab/backend/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace quantlab {
namespace {

TEST(ThreadPool, CoversEveryItemExactlyOnceWithTheStaticSplit) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::vector<int> owner(size_t(n), -1);
      pool.parallel_for(n, [&](int64_t b, int64_t e, int tid) {
        for (int64_t i = b; i < e; ++i) {
          hits[size_t(i)]++;
          owner[size_t(i)] = tid;
        }
      });
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(1, hits[size_t(i)].load()) << "threads=" << threads << " n=" << n << " i=" << i;
        // Thread t owns [n*t/T, n*(t+1)/T).
        ASSERT_LE(int64_t(owner[size_t(i)]) * n / threads, i);
        ASSERT_GT((int64_t(owner[size_t(i)]) + 1) * n / threads, i);
      }
    }
  }
}

TEST(ThreadPool, RethrowsAWorkersException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, [](int64_t b, int64_t, int) {
    if (b > 0) throw std::runtime_error("boom");
  }), std::runtime_error);
  // The pool stays usable.
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(4950, sum.load());
}

}  // namespace
}  // namespace quantlab
