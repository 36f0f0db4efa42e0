// The allocation's knapsack against brute force: exact with granule 1, never over the capacity with
// coarse granules, refused below the smallest total.
#include "quantlab/quant/choice_knapsack.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace quantlab {
namespace {

using Groups = std::vector<std::vector<KnapsackOption>>;

Groups random_groups(std::mt19937& rng, int n_groups, int max_options, uint64_t max_size) {
  Groups g(static_cast<size_t>(n_groups));
  for (auto& opts : g) {
    const int n = 1 + int(rng() % uint32_t(max_options));
    for (int k = 0; k < n; ++k)
      opts.push_back({1 + rng() % max_size, std::uniform_real_distribution<double>(0.0, 1.0)(rng)});
  }
  return g;
}

// Least cost over every combination that fits (infinity when none does).
double brute_force(const Groups& g, uint64_t capacity) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> k(g.size(), 0);
  for (;;) {
    uint64_t size = 0;
    double cost = 0;
    for (size_t u = 0; u < g.size(); ++u) size += g[u][k[u]].size, cost += g[u][k[u]].cost;
    if (size <= capacity && cost < best) best = cost;
    size_t u = 0;
    while (u < g.size() && ++k[u] == g[u].size()) k[u++] = 0;
    if (u == g.size()) return best;
  }
}

void expect_consistent(const Groups& g, const KnapsackSolution& s, uint64_t capacity) {
  ASSERT_EQ(s.choice.size(), g.size());
  uint64_t size = 0;
  double cost = 0;
  for (size_t u = 0; u < g.size(); ++u) {
    ASSERT_GE(s.choice[u], 0);
    ASSERT_LT(size_t(s.choice[u]), g[u].size());
    size += g[u][size_t(s.choice[u])].size;
    cost += g[u][size_t(s.choice[u])].cost;
  }
  EXPECT_EQ(size, s.size);
  EXPECT_LE(size, capacity);
  EXPECT_NEAR(cost, s.cost, 1e-12);
}

TEST(ChoiceKnapsack, ExactAgainstBruteForceOnSmallInstances) {
  std::mt19937 rng(15);
  int feasible = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const Groups g = random_groups(rng, 1 + int(rng() % 6), 4, 40);
    const uint64_t capacity = rng() % 200;
    const double want = brute_force(g, capacity);
    const auto got = solve_choice_knapsack(g, capacity, 1 << 20);  // granule 1: exact
    if (want == std::numeric_limits<double>::infinity()) {
      EXPECT_FALSE(got) << "trial " << trial;
      continue;
    }
    ++feasible;
    ASSERT_TRUE(got) << "trial " << trial;
    EXPECT_EQ(got->granule, 1u);
    expect_consistent(g, *got, capacity);
    EXPECT_NEAR(got->cost, want, 1e-12) << "trial " << trial;
  }
  EXPECT_GT(feasible, 100);
}

TEST(ChoiceKnapsack, CoarseGranulesNeverExceedTheCapacity) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const Groups g = random_groups(rng, 1 + int(rng() % 6), 4, 1000);
    const uint64_t lo = knapsack_min_size(g), hi = knapsack_max_size(g);
    const uint64_t capacity = lo + rng() % (hi - lo + 1);
    const auto got = solve_choice_knapsack(g, capacity, 1 + rng() % 16);  // granules of up to ~6000
    ASSERT_TRUE(got) << "trial " << trial << ": a capacity within [min, max] always has a solution";
    expect_consistent(g, *got, capacity);
    EXPECT_GE(got->cost, brute_force(g, capacity) - 1e-12);
  }
}

TEST(ChoiceKnapsack, BelowTheSmallestTotalIsRefusedAndAtItTakesTheSmallest) {
  const Groups g = {{{10, 1.0}, {20, 0.5}}, {{5, 2.0}, {7, 0.1}}};
  EXPECT_EQ(knapsack_min_size(g), 15u);
  EXPECT_EQ(knapsack_max_size(g), 27u);
  EXPECT_FALSE(solve_choice_knapsack(g, 14));
  const auto at_min = solve_choice_knapsack(g, 15);
  ASSERT_TRUE(at_min);
  EXPECT_EQ(at_min->choice, (std::vector<int>{0, 0}));
  const auto roomy = solve_choice_knapsack(g, 27);
  ASSERT_TRUE(roomy);
  EXPECT_EQ(roomy->choice, (std::vector<int>{1, 1}));
  const auto one = solve_choice_knapsack(g, 22);  // 10 + 7 beats 20 + 5 here (1.1 < 2.5)
  ASSERT_TRUE(one);
  EXPECT_EQ(one->choice, (std::vector<int>{0, 1}));
}

}  // namespace
}  // namespace quantlab
