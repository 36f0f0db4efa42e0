#include "quantlab/backend/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace quantlab {
namespace {

TEST(ThreadPool, CoversEveryItemExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_thread{0};
      pool.parallel_for(n, [&](int64_t b, int64_t e, int tid) {
        if (tid < 0 || tid >= threads) bad_thread++;
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      EXPECT_EQ(0, bad_thread.load());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(1, hits[size_t(i)].load()) << "threads=" << threads << " n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, ManyBackToBackJobsAllComplete) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job)
    pool.parallel_for(7 + job % 5, [&](int64_t b, int64_t e, int) { total += e - b; });
  int64_t expect = 0;
  for (int job = 0; job < 2000; ++job) expect += 7 + job % 5;
  EXPECT_EQ(expect, total.load());
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
