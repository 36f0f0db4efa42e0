#pragma once
// The server's generation slots: `parallel` Sessions (each its own KV cache and worker threads;
// on the CPU they all read the one Model's weights, which Session never copies there) and a
// first-come-first-served queue for the requests that find every slot busy. A request waits at
// most until its deadline, and the queue holds at most `max_queue` waiting requests: past either
// limit the request is refused (the server answers 503) instead of piling up.
#include "quantlab/backend/device.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace quantlab::serve {

struct Slot {
  Slot(const Model& model, int threads, int64_t n_ctx, const Device& device)
      : pool(threads), session(model, pool, n_ctx, device) {}
  ThreadPool pool;  // ThreadPool::parallel_for is not reentrant: one pool per concurrent session
  Session session;
  std::vector<int32_t> cached;  // tokens in the session's KV cache (run_completion's prefix reuse)
};

class SlotPool {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Refusal { None, QueueFull, TimedOut, Closed };

  SlotPool(const Model& model, int parallel, int threads_per_slot, int64_t n_ctx, const Device& device, size_t max_queue);

  // A slot held until the lease is destroyed (then the next waiter in line gets it).
  class Lease {
   public:
    Lease() = default;
    Lease(SlotPool* pool, Slot* slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), slot_(o.slot_) { o.slot_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() { if (slot_) pool_->release(slot_); }
    explicit operator bool() const { return slot_ != nullptr; }
    Slot& operator*() const { return *slot_; }
    Slot* operator->() const { return slot_; }

   private:
    SlotPool* pool_ = nullptr;
    Slot* slot_ = nullptr;
  };

  // A free slot, in arrival order; an empty lease and the reason when the queue is full or the
  // deadline passes first.
  Lease acquire(Clock::time_point deadline, Refusal& why);

  // Refuses every waiting and later request (Refusal::Closed): a server that stops must not keep
  // its workers waiting out their timeouts.
  void close();

  int64_t n_ctx() const { return n_ctx_; }
  size_t size() const { return slots_.size(); }
  size_t busy() const;     // slots in use now
  size_t waiting() const;  // requests in the queue now

 private:
  void release(Slot* slot);

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::deque<uint64_t> queue_;  // tickets of waiting requests, oldest first
  uint64_t next_ticket_ = 0;
  size_t max_queue_;
  bool closed_ = false;
  int64_t n_ctx_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace quantlab::serve
