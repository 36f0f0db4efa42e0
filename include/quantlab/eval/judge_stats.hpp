#pragma once
// The figures of an LLM judge run. Pairwise (seed 001's A/B test): every item -- a prompt (and
// seed), the base's reply against a candidate's -- is judged twice, once with the base in slot A and
// once with the candidate there, so that a judge that favours a slot favours both sides equally.
// Each judgement that came back readable is a win, a loss or an even for the candidate.
//
//   P(candidate preferred) = (wins + evens / 2) / readable judgements   (seed 001: Even adds 0.5)
//   |P - 0.5|                                                             (seed 001's figure: 0 = Even)
//   first-slot preference  = (A wins + evens / 2) / readable judgements   (0.5: no position bias)
//
// Rates and P are means over prompts of each prompt's own rate (a prompt's seeds and orders are not
// independent), with a percentile bootstrap interval over prompts (eval/bootstrap.hpp); a prompt
// whose judgements all failed is left out. The interval of |P - 0.5| is the image of P's interval.
#include "quantlab/eval/bootstrap.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace quantlab {

enum class PairOutcome { Win, Lose, Even };  // for the candidate

struct PairJudgement {
  size_t prompt = 0;               // the resampling unit
  size_t item = 0;                 // prompt and seed: its two orders share it
  bool candidate_first = false;    // the candidate's reply was answer A
  std::optional<PairOutcome> outcome;  // nullopt: failed or unreadable
};

struct PairwiseSummary {
  int64_t judgements = 0, errors = 0, readable = 0;
  int64_t wins = 0, losses = 0, evens = 0;
  int64_t first_slot_wins = 0, second_slot_wins = 0;
  int64_t items_both_orders = 0;  // items with both orders readable
  int64_t items_consistent = 0;   // ... whose two outcomes agree (the verdict followed the reply, not the slot)
  MeanInterval win_rate, loss_rate, even_rate;
  MeanInterval p_candidate;       // wins + evens/2
  double abs_p_minus_half = 0, abs_low = 0, abs_high = 0;
  MeanInterval first_slot;        // A wins + evens/2: position bias
};

PairwiseSummary summarize_pairwise(std::span<const PairJudgement> judgements, const BootstrapOptions& boot);

struct ScoreJudgement {
  size_t prompt = 0;
  std::optional<int> score;  // nullopt: failed or unreadable
};

struct ScoreSummary {
  int64_t judgements = 0, errors = 0, readable = 0;
  std::map<int, int64_t> histogram;  // score -> readable judgements with it
  MeanInterval mean;                 // mean over prompts of each prompt's mean score
};

ScoreSummary summarize_scores(std::span<const ScoreJudgement> judgements, const BootstrapOptions& boot);

// Paired by prompt: a model's prompt means minus the base's, over the prompts both have a readable
// score for. n = 0 when there are none.
MeanInterval score_difference(std::span<const ScoreJudgement> model, std::span<const ScoreJudgement> base,
                              const BootstrapOptions& boot);

}  // namespace quantlab
