#pragma once
// A fixed set of worker threads for data-parallel loops. Work is split statically (item ranges
// fixed by the item count and the thread count alone) and no reduction is ever split across
// threads, so every output element is computed by exactly one thread in one fixed order: results
// are bit-identical whatever the thread count (COMMON.md: determinism).
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace quantlab {

class ThreadPool {
 public:
  // `n_threads` <= 0 means one per hardware thread. The calling thread is one of them.
  explicit ThreadPool(int n_threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) on disjoint ranges covering [0, n); thread i gets
  // [n*i/size, n*(i+1)/size). Returns when all are done. Not reentrant: `fn` must not call
  // parallel_for. Exceptions thrown by `fn` are rethrown here (the first one).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_main(int index);
  void run_share(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint32_t> generation_{0};  // 32-bit: waits on it map to a plain futex
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
  std::atomic<bool> has_error_{false};
};

}  // namespace quantlab
