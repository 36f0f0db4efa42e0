#include "quantlab/eval/judge_stats.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace quantlab {

namespace {

// Per prompt (in ascending prompt order): the mean of `value` over its readable judgements.
template <class J, class F>
std::map<size_t, double> prompt_means(std::span<const J> js, F value) {
  std::map<size_t, std::pair<double, int64_t>> acc;
  for (const J& j : js)
    if (auto v = value(j)) {
      auto& [sum, n] = acc[j.prompt];
      sum += *v;
      ++n;
    }
  std::map<size_t, double> out;
  for (const auto& [p, s] : acc) out[p] = s.first / double(s.second);
  return out;
}

std::vector<double> values(const std::map<size_t, double>& m) {
  std::vector<double> v;
  for (const auto& [p, x] : m) v.push_back(x);
  return v;
}

}  // namespace

PairwiseSummary summarize_pairwise(std::span<const PairJudgement> js, const BootstrapOptions& boot) {
  PairwiseSummary s;
  std::map<size_t, std::vector<PairOutcome>> by_item;
  for (const PairJudgement& j : js) {
    ++s.judgements;
    if (!j.outcome) {
      ++s.errors;
      continue;
    }
    ++s.readable;
    const PairOutcome o = *j.outcome;
    s.wins += o == PairOutcome::Win;
    s.losses += o == PairOutcome::Lose;
    s.evens += o == PairOutcome::Even;
    // The candidate winning from slot A, or losing from slot B, is a first-slot win.
    if (o != PairOutcome::Even) ((o == PairOutcome::Win) == j.candidate_first ? s.first_slot_wins : s.second_slot_wins)++;
    by_item[j.item].push_back(o);
  }
  for (const auto& [item, os] : by_item)
    if (os.size() == 2) {
      ++s.items_both_orders;
      s.items_consistent += os[0] == os[1];
    }
  auto series = [&](auto f) {
    const std::vector<double> v = values(prompt_means(js, [&](const PairJudgement& j) -> std::optional<double> {
      if (!j.outcome) return std::nullopt;
      return f(j);
    }));
    return bootstrap_mean(v, boot);
  };
  s.win_rate = series([](const PairJudgement& j) { return *j.outcome == PairOutcome::Win ? 1.0 : 0.0; });
  s.loss_rate = series([](const PairJudgement& j) { return *j.outcome == PairOutcome::Lose ? 1.0 : 0.0; });
  s.even_rate = series([](const PairJudgement& j) { return *j.outcome == PairOutcome::Even ? 1.0 : 0.0; });
  s.p_candidate = series([](const PairJudgement& j) {
    return *j.outcome == PairOutcome::Win ? 1.0 : *j.outcome == PairOutcome::Even ? 0.5 : 0.0;
  });
  s.first_slot = series([](const PairJudgement& j) {
    if (*j.outcome == PairOutcome::Even) return 0.5;
    return (*j.outcome == PairOutcome::Win) == j.candidate_first ? 1.0 : 0.0;
  });
  s.abs_p_minus_half = std::abs(s.p_candidate.mean - 0.5);
  const double lo = s.p_candidate.low - 0.5, hi = s.p_candidate.high - 0.5;
  s.abs_low = lo <= 0 && hi >= 0 ? 0.0 : std::min(std::abs(lo), std::abs(hi));
  s.abs_high = std::max(std::abs(lo), std::abs(hi));
  return s;
}

ScoreSummary summarize_scores(std::span<const ScoreJudgement> js, const BootstrapOptions& boot) {
  ScoreSummary s;
  for (const ScoreJudgement& j : js) {
    ++s.judgements;
    if (!j.score) {
      ++s.errors;
      continue;
    }
    ++s.readable;
    ++s.histogram[*j.score];
  }
  const std::vector<double> v = values(prompt_means(js, [](const ScoreJudgement& j) -> std::optional<double> {
    return j.score ? std::optional<double>(*j.score) : std::nullopt;
  }));
  s.mean = bootstrap_mean(v, boot);
  return s;
}

MeanInterval score_difference(std::span<const ScoreJudgement> model, std::span<const ScoreJudgement> base,
                              const BootstrapOptions& boot) {
  auto mean_of = [](const ScoreJudgement& j) -> std::optional<double> {
    return j.score ? std::optional<double>(*j.score) : std::nullopt;
  };
  const std::map<size_t, double> m = prompt_means(model, mean_of), b = prompt_means(base, mean_of);
  std::vector<double> a, c;
  for (const auto& [p, x] : m)
    if (const auto it = b.find(p); it != b.end()) {
      a.push_back(x);
      c.push_back(it->second);
    }
  return bootstrap_paired_difference(a, c, boot);
}

}  // namespace quantlab
