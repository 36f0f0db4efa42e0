// The pairwise and score figures on judgements small enough to work out by hand.
#include "quantlab/eval/judge_stats.hpp"

#include <gtest/gtest.h>

namespace quantlab {
namespace {

constexpr auto W = PairOutcome::Win, L = PairOutcome::Lose, E = PairOutcome::Even;

TEST(PairwiseSummary, CountsRatesPositionBiasAndConsistency) {
  // Prompt 0: the candidate wins in both orders. Prompt 1: it loses with the base in slot A, even
  // with itself in slot A. Prompt 2: both requests failed (left out of the means).
  const std::vector<PairJudgement> js{{0, 0, false, W}, {0, 0, true, W}, {1, 1, false, L},
                                      {1, 1, true, E},  {2, 2, false, std::nullopt}, {2, 2, true, std::nullopt}};
  BootstrapOptions boot;
  boot.resamples = 200;
  const PairwiseSummary s = summarize_pairwise(js, boot);
  EXPECT_EQ(s.judgements, 6);
  EXPECT_EQ(s.errors, 2);
  EXPECT_EQ(s.readable, 4);
  EXPECT_EQ(s.wins, 2);
  EXPECT_EQ(s.losses, 1);
  EXPECT_EQ(s.evens, 1);
  EXPECT_EQ(s.win_rate.n, 2);
  EXPECT_DOUBLE_EQ(s.win_rate.mean, (1.0 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(s.loss_rate.mean, (0.0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(s.even_rate.mean, (0.0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(s.p_candidate.mean, (1.0 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(s.abs_p_minus_half, 0.125);
  // First slot: prompt 0 -> the candidate won from B, then from A: 0, 1; prompt 1 -> the base won from
  // A (1), even (0.5).
  EXPECT_EQ(s.first_slot_wins, 2);
  EXPECT_EQ(s.second_slot_wins, 1);
  EXPECT_DOUBLE_EQ(s.first_slot.mean, (0.5 + 0.75) / 2);
  EXPECT_EQ(s.items_both_orders, 2);
  EXPECT_EQ(s.items_consistent, 1);
  EXPECT_LE(s.p_candidate.low, s.p_candidate.mean);
  EXPECT_GE(s.p_candidate.high, s.p_candidate.mean);
  // |P - 0.5|'s interval is the image of P's: 0 at the bottom when P's interval holds 0.5.
  if (s.p_candidate.low <= 0.5) {
    EXPECT_EQ(s.abs_low, 0.0);
  }
  EXPECT_DOUBLE_EQ(s.abs_high, std::max(std::abs(s.p_candidate.low - 0.5), std::abs(s.p_candidate.high - 0.5)));
}

TEST(PairwiseSummary, AJudgeThatAlwaysSaysAIsEvenAndAllPositionBias) {
  // Seed 001: identical models should come out Even. A judge answering "A" every time gives exactly
  // that P = 0.5, and shows itself by a first-slot preference of 1 and no consistent item.
  std::vector<PairJudgement> js;
  for (size_t p = 0; p < 10; ++p) {
    js.push_back({p, p, false, L});  // base in A wins
    js.push_back({p, p, true, W});   // candidate in A wins
  }
  const PairwiseSummary s = summarize_pairwise(js, {});
  EXPECT_DOUBLE_EQ(s.p_candidate.mean, 0.5);
  EXPECT_DOUBLE_EQ(s.p_candidate.low, 0.5);
  EXPECT_DOUBLE_EQ(s.abs_p_minus_half, 0.0);
  EXPECT_DOUBLE_EQ(s.first_slot.mean, 1.0);
  EXPECT_EQ(s.items_consistent, 0);
}

TEST(ScoreSummary, MeansOverPromptsHistogramAndPairedDifference) {
  // Prompt 0 has two seeds (3 and 5: mean 4), prompt 1 one score, prompt 2 none readable.
  const std::vector<ScoreJudgement> model{{0, 3}, {0, 5}, {1, 2}, {2, std::nullopt}};
  const std::vector<ScoreJudgement> base{{0, 4}, {0, 4}, {1, 4}, {2, 5}};
  const ScoreSummary s = summarize_scores(model, {});
  EXPECT_EQ(s.judgements, 4);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.readable, 3);
  EXPECT_EQ(s.histogram, (std::map<int, int64_t>{{2, 1}, {3, 1}, {5, 1}}));
  EXPECT_EQ(s.mean.n, 2);
  EXPECT_DOUBLE_EQ(s.mean.mean, 3.0);
  const MeanInterval d = score_difference(model, base, {});
  EXPECT_EQ(d.n, 2) << "only prompts both have a score for";
  EXPECT_DOUBLE_EQ(d.mean, ((4.0 - 4.0) + (2.0 - 4.0)) / 2);
}

}  // namespace
}  // namespace quantlab
