#include "quantlab/core/phase_times.hpp"

#include <utility>

namespace quantlab {

void PhaseTimes::enable(std::function<void()> sync) {
  enabled_ = true;
  sync_ = std::move(sync);
  phases_.clear();
}

void PhaseTimes::disable() {
  enabled_ = false;
  sync_ = {};
}

void PhaseTimes::add(const char* name, double seconds) {
  for (Phase& p : phases_)
    if (p.name == name) {
      p.seconds += seconds;
      ++p.count;
      return;
    }
  phases_.push_back({name, seconds, 1});
}

PhaseTimes& phase_times() {
  static PhaseTimes clock;
  return clock;
}

}  // namespace quantlab
