#include "quantlab/eval/hypothesis_table.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace quantlab {

bool smallest_within(std::span<const double> values, size_t ref, double ratio) {
  if (ref >= values.size() || !std::isfinite(values[ref])) return false;
  double lowest = std::numeric_limits<double>::infinity();
  for (double v : values)
    if (std::isfinite(v)) lowest = std::min(lowest, v);
  return values[ref] <= ratio * lowest;
}

size_t argmin_index(std::span<const double> values) {
  size_t best = values.size();
  for (size_t i = 0; i < values.size(); ++i)
    if (std::isfinite(values[i]) && (best == values.size() || values[i] < values[best])) best = i;
  return best;
}

std::vector<HypothesisVerdict> seed001_verdicts(std::span<const HypothesisCell> cells, std::span<const double> ratios) {
  std::vector<HypothesisVerdict> out;
  for (const HypothesisCell& c : cells) {
    const std::string where = c.cell + " / " + c.row;
    if (c.to_base.size() != c.conditions.size())
      throw Error(where, "to_base", std::to_string(c.to_base.size()) + " values for " +
                                         std::to_string(c.conditions.size()) + " conditions");
    if (!c.to_reference.empty() && c.to_reference.size() != c.conditions.size())
      throw Error(where, "to_reference", std::to_string(c.to_reference.size()) + " values for " +
                                              std::to_string(c.conditions.size()) + " conditions");
    if (c.base >= c.conditions.size()) throw Error(where, "base", "index out of range");
    auto add = [&](const char* h, double ratio, bool holds) { out.push_back({h, ratio, c.cell, c.row, holds}); };
    add("E1", 1.0, smallest_within(c.to_base, c.base, 1.0));
    for (double r : ratios) add("E2", r, smallest_within(c.to_base, c.base, r));
    if (c.to_reference.empty()) continue;
    add("E3", 1.0, smallest_within(c.to_reference, c.base, 1.0));
    for (double r : ratios) add("E4", r, smallest_within(c.to_reference, c.base, r));
    const size_t q = argmin_index(c.to_base), g = argmin_index(c.to_reference);
    add("E5", 1.0, q < c.conditions.size() && q == g);
  }
  return out;
}

std::vector<WinRate> win_rates(std::span<const HypothesisVerdict> verdicts) {
  std::vector<WinRate> out;
  for (const HypothesisVerdict& v : verdicts) {
    auto it = std::find_if(out.begin(), out.end(), [&](const WinRate& w) {
      return w.hypothesis == v.hypothesis && w.ratio == v.ratio && w.row == v.row;
    });
    if (it == out.end()) it = out.insert(out.end(), WinRate{v.hypothesis, v.ratio, v.row, 0, 0});
    ++it->cells;
    it->wins += v.holds;
  }
  return out;
}

}  // namespace quantlab
