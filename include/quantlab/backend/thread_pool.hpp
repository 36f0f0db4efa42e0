#pragma once
// A fixed set of worker threads for data-parallel loops.
//
// Determinism does not come from a fixed schedule but from what the loops do: every caller
// splits its work into items whose results do not depend on each other (output rows, tokens,
// heads), and no reduction is ever split across items. Which thread runs an item, and when,
// cannot change a single bit (COMMON.md: identical outputs whatever the thread count; tested with
// 1, 2 and 3 threads). Chunks of items are claimed dynamically, so a thread the OS does not
// schedule promptly (a shared 2-core machine) delays nobody: the others take its chunks.
#include <atomic>
#include <cstdint>
#include <exception>
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

  // Calls fn(begin, end, thread_index) on disjoint ranges that together cover [0, n) exactly
  // once; returns when all are done. Not reentrant: `fn` must not call parallel_for. The first
  // exception thrown by `fn` is rethrown here.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_main(int index);
  void work(uint32_t generation, int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job; written by the caller before it publishes the generation.
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t chunk_ = 1;
  uint32_t n_chunks_ = 0;
  // (generation << 32) | (chunk count << 16) | next unclaimed chunk: claims are per job.
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint32_t> done_{0};        // chunks finished (32-bit: waits map to a plain futex)
  std::atomic<uint32_t> generation_{0};  // bumped per job; workers sleep on it
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
  std::atomic<bool> has_error_{false};
};

}  // namespace quantlab
