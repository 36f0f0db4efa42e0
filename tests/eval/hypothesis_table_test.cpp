// Seed 001's hypothesis and win-rate tables on small hand-built grids whose answers are known.
#include "quantlab/eval/hypothesis_table.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace quantlab {
namespace {

TEST(HypothesisTable, SmallestWithinATolerance) {
  const std::vector<double> v{1.04, 1.0, 2.0};
  EXPECT_FALSE(smallest_within(v, 0, 1.0));
  EXPECT_TRUE(smallest_within(v, 0, 1.05));
  EXPECT_TRUE(smallest_within(v, 1, 1.0));
  EXPECT_FALSE(smallest_within(v, 2, 1.1));
  EXPECT_TRUE(smallest_within(std::vector<double>{0.0, 0.0}, 1, 1.0));  // a tie is the smallest
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(smallest_within(std::vector<double>{nan, 1.0}, 0, 1.1));
  EXPECT_TRUE(smallest_within(std::vector<double>{1.0, nan}, 0, 1.0));
  EXPECT_EQ(argmin_index(std::vector<double>{3, 1, 1}), 1u);
  EXPECT_EQ(argmin_index(std::vector<double>{nan}), 1u);
}

// Three cells, two rows. Base first, then q8 and q4.
std::vector<HypothesisCell> grid() {
  const std::vector<std::string> names{"base", "q8", "q4"};
  return {
      // Cell A: the base is smallest to the base; to the references q8 is smallest but the base
      // is within 5 %.
      {"A", "minilm l1", names, 0, {0.10, 0.12, 0.20}, {0.52, 0.50, 0.60}},
      // Cell B: q8 is 3 % below the base's own entry (E1 fails, E2 at 1.05 holds); the base is
      // 8 % above the best to the references (E4 only at 1.1).
      {"B", "minilm l1", names, 0, {0.100, 0.097, 0.3}, {0.54, 0.50, 0.70}},
      // Cell C: the base is 20 % above q4 (nothing holds); E5: q4 is closest to both.
      {"C", "minilm l1", names, 0, {0.12, 0.11, 0.10}, {0.7, 0.6, 0.5}},
      // Another row of cell A without references: only E1/E2.
      {"A", "minilm cosine", names, 0, {0.01, 0.02, 0.03}, {}},
  };
}

TEST(HypothesisTable, VerdictsPerCellAndRow) {
  const std::vector<double> ratios{1.05, 1.1};
  const auto v = seed001_verdicts(grid(), ratios);
  // Per cell with references: E1, E2 x2, E3, E4 x2, E5 = 7; without: 3.
  ASSERT_EQ(v.size(), 3 * 7 + 3u);
  auto holds = [&](const std::string& cell, const std::string& row, const std::string& h, double r) {
    for (const auto& x : v)
      if (x.cell == cell && x.row == row && x.hypothesis == h && x.ratio == r) return x.holds;
    ADD_FAILURE() << "no verdict " << cell << " " << row << " " << h << " " << r;
    return false;
  };
  EXPECT_TRUE(holds("A", "minilm l1", "E1", 1.0));
  EXPECT_FALSE(holds("A", "minilm l1", "E3", 1.0));
  EXPECT_TRUE(holds("A", "minilm l1", "E4", 1.05));
  EXPECT_FALSE(holds("A", "minilm l1", "E5", 1.0));  // base closest to the base, q8 to the references
  EXPECT_FALSE(holds("B", "minilm l1", "E1", 1.0));
  EXPECT_TRUE(holds("B", "minilm l1", "E2", 1.05));
  EXPECT_FALSE(holds("B", "minilm l1", "E4", 1.05));
  EXPECT_TRUE(holds("B", "minilm l1", "E4", 1.1));
  EXPECT_TRUE(holds("B", "minilm l1", "E5", 1.0));  // q8 closest to both
  EXPECT_FALSE(holds("C", "minilm l1", "E2", 1.1));
  EXPECT_TRUE(holds("C", "minilm l1", "E5", 1.0));
  EXPECT_TRUE(holds("A", "minilm cosine", "E1", 1.0));
}

TEST(HypothesisTable, WinRatesCountCellsPerRow) {
  const std::vector<double> ratios{1.05, 1.1};
  const auto w = win_rates(seed001_verdicts(grid(), ratios));
  auto find = [&](const std::string& h, double r, const std::string& row) {
    for (const auto& x : w)
      if (x.hypothesis == h && x.ratio == r && x.row == row) return x;
    ADD_FAILURE() << "no row " << h << " " << r << " " << row;
    return WinRate{};
  };
  EXPECT_EQ(find("E1", 1.0, "minilm l1").wins, 1);
  EXPECT_EQ(find("E1", 1.0, "minilm l1").cells, 3);
  EXPECT_NEAR(find("E1", 1.0, "minilm l1").rate(), 1.0 / 3, 1e-12);
  EXPECT_EQ(find("E2", 1.05, "minilm l1").wins, 2);
  EXPECT_EQ(find("E2", 1.1, "minilm l1").wins, 2);
  EXPECT_EQ(find("E3", 1.0, "minilm l1").wins, 0);
  EXPECT_EQ(find("E4", 1.05, "minilm l1").wins, 1);
  EXPECT_EQ(find("E4", 1.1, "minilm l1").wins, 2);
  EXPECT_EQ(find("E5", 1.0, "minilm l1").wins, 2);
  EXPECT_EQ(find("E1", 1.0, "minilm cosine").cells, 1);
  EXPECT_EQ(find("E1", 1.0, "minilm cosine").rate(), 1.0);
}

TEST(HypothesisTable, MismatchedCellIsRefused) {
  std::vector<HypothesisCell> bad{{"A", "r", {"base", "q"}, 0, {0.1}, {}}};
  test::expect_typed([&] { seed001_verdicts(bad, std::vector<double>{1.05}); }, "A / r", "to_base");
  bad[0].to_base = {0.1, 0.2};
  bad[0].base = 2;
  test::expect_typed([&] { seed001_verdicts(bad, std::vector<double>{1.05}); }, "A / r", "base");
}

}  // namespace
}  // namespace quantlab
