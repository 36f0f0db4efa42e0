#include "quantlab/serve/slot_pool.hpp"

#include <algorithm>

namespace quantlab::serve {

SlotPool::SlotPool(const Model& model, int parallel, int threads_per_slot, int64_t n_ctx, const Device& device,
                   size_t max_queue)
    : max_queue_(max_queue) {
  for (int i = 0; i < parallel; ++i) {
    slots_.push_back(std::make_unique<Slot>(model, threads_per_slot, n_ctx, device));
    free_.push_back(slots_.back().get());
  }
  n_ctx_ = slots_.empty() ? 0 : slots_.front()->session.n_ctx();
}

SlotPool::Lease SlotPool::acquire(Clock::time_point deadline, Refusal& why) {
  std::unique_lock<std::mutex> lock(mutex_);
  why = Refusal::None;
  if (closed_) {
    why = Refusal::Closed;
    return {};
  }
  if (queue_.empty() && !free_.empty()) {
    Slot* s = free_.back();
    free_.pop_back();
    return Lease(this, s);
  }
  if (queue_.size() >= max_queue_) {
    why = Refusal::QueueFull;
    return {};
  }
  const uint64_t ticket = next_ticket_++;
  queue_.push_back(ticket);
  const bool turn =
      changed_.wait_until(lock, deadline, [&] { return closed_ || (queue_.front() == ticket && !free_.empty()); });
  if (!turn || closed_) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
    changed_.notify_all();  // the one behind may be first in line now
    why = closed_ ? Refusal::Closed : Refusal::TimedOut;
    return {};
  }
  queue_.pop_front();
  Slot* s = free_.back();
  free_.pop_back();
  changed_.notify_all();  // another slot may be free for the next in line
  return Lease(this, s);
}

void SlotPool::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

void SlotPool::release(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(slot);
  }
  changed_.notify_all();
}

size_t SlotPool::busy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slots_.size() - free_.size();
}

size_t SlotPool::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

}  // namespace quantlab::serve
