#pragma once
// The multiple-choice knapsack behind per-tensor bit allocation: every group (a tensor, or a
// layer's attention/FFN tensors) takes exactly one of its options (a candidate type with a size
// and a measured cost, the KLD it adds); the sum of sizes must not exceed the capacity and the sum
// of costs is minimised.
//
// Solved exactly by dynamic programming over sizes measured in granules: each option's size is
// rounded *up* to whole granules, so a solution that fits in granules fits in bytes (the budget is
// never exceeded). With a granule of 1 the result is the exact optimum; with a larger granule it is
// the optimum of the rounded problem, then improved by single swaps into the bytes rounding left
// over (`fill_slack`), never past the capacity. Ties go to the lower option index, group by group,
// so the answer does not depend on anything but the input.
#include <cstdint>
#include <optional>
#include <vector>

namespace quantlab {

struct KnapsackOption {
  uint64_t size = 0;  // bytes (or any integer unit)
  double cost = 0;    // to minimise (e.g. measured KLD)
};

struct KnapsackSolution {
  std::vector<int> choice;  // per group, an index into its options
  uint64_t size = 0;        // sum of the chosen sizes (<= capacity)
  double cost = 0;          // sum of the chosen costs
  uint64_t granule = 1;     // the size unit the DP used
};

// Smallest and largest total size the groups can take (every group at its smallest / largest option).
uint64_t knapsack_min_size(const std::vector<std::vector<KnapsackOption>>& groups);
uint64_t knapsack_max_size(const std::vector<std::vector<KnapsackOption>>& groups);

// `max_slots` bounds the DP table (groups x slots entries): the granule is the smallest that keeps
// capacity / granule <= max_slots. Returns nullopt when no choice fits (capacity below
// knapsack_min_size); throws Error for a group without options (or more than 255).
std::optional<KnapsackSolution> solve_choice_knapsack(const std::vector<std::vector<KnapsackOption>>& groups,
                                                      uint64_t capacity, uint64_t max_slots = uint64_t(1) << 18);

}  // namespace quantlab
