#include "quantlab/quant/choice_knapsack.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace quantlab {
namespace {

void check_groups(const std::vector<std::vector<KnapsackOption>>& groups) {
  for (size_t u = 0; u < groups.size(); ++u)
    if (groups[u].empty() || groups[u].size() > 255)
      throw Error("knapsack", "group " + std::to_string(u), std::to_string(groups[u].size()) + " options (1..255 allowed)");
}

// Single swaps that lower the cost and still fit: the bytes the granule rounding left unused.
void fill_slack(const std::vector<std::vector<KnapsackOption>>& groups, uint64_t capacity, KnapsackSolution& s) {
  for (;;) {
    double best = 0;
    size_t bu = 0;
    int bk = -1;
    for (size_t u = 0; u < groups.size(); ++u) {
      const KnapsackOption& cur = groups[u][size_t(s.choice[u])];
      for (size_t k = 0; k < groups[u].size(); ++k) {
        const KnapsackOption& o = groups[u][k];
        const double delta = o.cost - cur.cost;
        if (delta < best && s.size - cur.size + o.size <= capacity) best = delta, bu = u, bk = int(k);
      }
    }
    if (bk < 0) return;
    s.size = s.size - groups[bu][size_t(s.choice[bu])].size + groups[bu][size_t(bk)].size;
    s.choice[bu] = bk;
  }
}

}  // namespace

uint64_t knapsack_min_size(const std::vector<std::vector<KnapsackOption>>& groups) {
  check_groups(groups);
  uint64_t n = 0;
  for (const auto& g : groups)
    n += std::min_element(g.begin(), g.end(), [](const auto& a, const auto& b) { return a.size < b.size; })->size;
  return n;
}

uint64_t knapsack_max_size(const std::vector<std::vector<KnapsackOption>>& groups) {
  check_groups(groups);
  uint64_t n = 0;
  for (const auto& g : groups)
    n += std::max_element(g.begin(), g.end(), [](const auto& a, const auto& b) { return a.size < b.size; })->size;
  return n;
}

std::optional<KnapsackSolution> solve_choice_knapsack(const std::vector<std::vector<KnapsackOption>>& groups,
                                                      uint64_t capacity, uint64_t max_slots) {
  check_groups(groups);
  if (capacity < knapsack_min_size(groups)) return std::nullopt;
  max_slots = std::max<uint64_t>(1, max_slots);
  const uint64_t granule = std::max<uint64_t>(1, (capacity + max_slots - 1) / max_slots);
  const size_t slots = size_t(capacity / granule) + 1;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // best[c]: least cost of the groups so far within c granules ("at most", so unused room is fine).
  std::vector<double> best(slots, 0.0), next(slots);
  std::vector<std::vector<uint8_t>> pick(groups.size(), std::vector<uint8_t>(slots, 0));
  std::vector<std::vector<uint64_t>> w(groups.size());
  for (size_t u = 0; u < groups.size(); ++u) {
    for (const auto& o : groups[u]) w[u].push_back(o.size / granule + (o.size % granule != 0));  // rounded up
    for (size_t c = 0; c < slots; ++c) {
      double v = kInf;
      uint8_t k_best = 0;
      for (size_t k = 0; k < groups[u].size(); ++k) {
        if (w[u][k] > c || best[c - w[u][k]] == kInf) continue;
        const double cand = best[c - w[u][k]] + groups[u][k].cost;
        if (cand < v) v = cand, k_best = uint8_t(k);
      }
      next[c] = v;
      pick[u][c] = k_best;
    }
    best.swap(next);
  }
  KnapsackSolution s;
  s.granule = granule;
  s.choice.assign(groups.size(), 0);
  if (best[slots - 1] == kInf) {
    // Sizes rounded up to coarse granules may not fit where the exact ones do (a capacity just above
    // the minimum): start from every group's smallest option, which fits, and improve by swaps.
    for (size_t u = 0; u < groups.size(); ++u)
      for (size_t k = 1; k < groups[u].size(); ++k)
        if (groups[u][k].size < groups[u][size_t(s.choice[u])].size) s.choice[u] = int(k);
  } else {
    size_t c = slots - 1;
    for (size_t u = groups.size(); u-- > 0;) {
      const int k = pick[u][c];
      s.choice[u] = k;
      c -= size_t(w[u][size_t(k)]);
    }
  }
  for (size_t u = 0; u < groups.size(); ++u) s.size += groups[u][size_t(s.choice[u])].size;
  if (granule > 1) fill_slack(groups, capacity, s);
  for (size_t u = 0; u < groups.size(); ++u) s.cost += groups[u][size_t(s.choice[u])].cost;
  return s;
}

}  // namespace quantlab
