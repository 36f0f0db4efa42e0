#include "quantlab/backend/thread_pool.hpp"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace quantlab {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spinning keeps the hand-off cheap for decode (many small loops per token); after this many
// rounds a waiting thread sleeps in the kernel so an idle pool costs no CPU.
constexpr int kSpinRounds = 20000;
// Chunks per thread: small enough to balance, large enough to keep claims rare.
constexpr int64_t kChunksPerThread = 4;
constexpr int kMaxThreads = 4096 / kChunksPerThread;  // chunk counts must fit the claim word's 16 bits

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = std::min(n_threads, kMaxThreads);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(uint32_t generation, int index) {
  for (;;) {
    // The claim word carries the job's chunk count, so a thread holding a stale word never reads
    // fields the caller may be rewriting for the next job.
    uint64_t c = claim_.load(std::memory_order_acquire);
    const uint32_t next = uint32_t(c & 0xffff), count = uint32_t((c >> 16) & 0xffff);
    if (uint32_t(c >> 32) != generation || next >= count) return;
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
    // A successful claim means the job of `generation` is still running, so job_ is valid.
    const int64_t i = int64_t(next);
    const int64_t begin = i * chunk_, end = std::min(job_n_, begin + chunk_);
    try {
      (*job_)(begin, end, index);
    } catch (...) {
      bool expected = false;
      if (has_error_.compare_exchange_strong(expected, true)) error_ = std::current_exception();
    }
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) done_.notify_all();
  }
}

void ThreadPool::worker_main(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinRounds; ++spin) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    work(g, index);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1) {
    fn(0, n, 0);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  chunk_ = std::max<int64_t>(1, (n + kChunksPerThread * n_threads_ - 1) / (kChunksPerThread * n_threads_));
  n_chunks_ = uint32_t((n + chunk_ - 1) / chunk_);
  has_error_.store(false);
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store((uint64_t(generation) << 32) | (uint64_t(n_chunks_) << 16), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  work(generation, 0);
  uint32_t done = done_.load(std::memory_order_acquire);
  for (int spin = 0; done != n_chunks_ && spin < kSpinRounds; ++spin) {
    cpu_relax();
    done = done_.load(std::memory_order_acquire);
  }
  while (done != n_chunks_) {
    done_.wait(done, std::memory_order_acquire);
    done = done_.load(std::memory_order_acquire);
  }
  job_ = nullptr;
  if (has_error_.load()) std::rethrow_exception(error_);
}

}  // namespace quantlab
