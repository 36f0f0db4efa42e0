#pragma once
// Where a long run's seconds go (`quantize --profile`): wall time summed per named phase. Off by
// default, when a scope costs one branch. On a GPU most ops only queue work, so the clock's owner
// hands it a synchronize function that each scope calls before it reads the time: the phases then
// add up to what the device really spent (at the price of the overlap synchronizing removes).
//
// Phases nest by name ("gptq" contains "gptq.sweep"); a nested phase's time is also its parent's.
// Scopes are opened by the thread that orchestrates the run, not by pool workers.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace quantlab {

class PhaseTimes {
 public:
  struct Phase {
    std::string name;
    double seconds = 0;
    int64_t count = 0;
  };

  // Starts recording from nothing; `sync` (may be empty) is called before every reading of the clock.
  void enable(std::function<void()> sync);
  void disable();
  bool enabled() const { return enabled_; }
  // Adds one interval to `name` (phases are listed in the order their first interval ended).
  void add(const char* name, double seconds);
  void sync() const {
    if (sync_) sync_();
  }
  const std::vector<Phase>& phases() const { return phases_; }

 private:
  bool enabled_ = false;
  std::function<void()> sync_;
  std::vector<Phase> phases_;
};

// The process's clock (one run at a time records).
PhaseTimes& phase_times();

// Times its own lifetime into phase `name` of phase_times() when that is enabled.
class PhaseScope {
 public:
  explicit PhaseScope(const char* name) : name_(name), on_(phase_times().enabled()) {
    if (on_) {
      phase_times().sync();
      start_ = std::chrono::steady_clock::now();
    }
  }
  ~PhaseScope() {
    if (!on_) return;
    phase_times().sync();
    phase_times().add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* name_;
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace quantlab
