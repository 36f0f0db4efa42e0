#pragma once
// `quantlab advise`: which file of a sweep to ship. For one model and one quality metric
// (quality_metric.hpp) it ranks every quantized file of the run:
//   - the Pareto front of size against quality (pareto.hpp);
//   - the recommendation: within the budget (--max-size, --max-bpw), the best quality, or with a
//     tolerance the smallest file whose quality is at most `tolerance` (the metric's own units)
//     worse than that best;
//   - for each file, whether it is statistically distinguishable from the best and from the base:
//     for KLD and PPL, whether the two 95 % intervals (mean +- 1.96 stderr, the stderr the cells
//     store) are disjoint; for mc, McNemar's exact test over the stored per-question answers
//     (eval/mcnemar.hpp), distinguishable at p < 0.05;
//   - a paragraph saying why, in plain English.
// The base is the reference, never a candidate (shipping the unquantized model needs no advice).
// Files whose quantization or evaluation failed, was blocked or has not run are listed with that
// status; they are never ranked and never dropped.
#include "quantlab/report/quality_metric.hpp"
#include "quantlab/report/run_results.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace quantlab::report {

struct AdviseOptions {
  std::string model;   // empty: the run's only model
  std::string metric;  // as --metric; empty: the default (quality_metric.hpp)
  std::optional<double> max_size;  // bytes
  std::optional<double> max_bpw;
  double tolerance = 0;            // in the metric's units (nats of KLD, PPL, accuracy as a fraction)
};

// The two-sided 95 % normal quantile the intervals use.
inline constexpr double kZ95 = 1.96;
// McNemar's p below which two files' answers differ by more than chance.
inline constexpr double kSignificance = 0.05;

// A file against a reference (the best file in the budget, or the base).
struct Comparison {
  std::string reference;          // the reference's name ("base" for the base)
  std::string test;               // "95% intervals" or "McNemar exact"
  double difference = 0;          // the file's value minus the reference's
  bool distinguishable = false;
  int64_t questions = 0, only_file = 0, only_reference = 0;  // McNemar: right in one of the two only
  double p_value = 1;                                        // McNemar
};

struct CandidateAdvice {
  size_t file = 0;             // index into RunResults::files
  std::string name;            // the configuration
  std::optional<double> size, bpw;
  std::optional<Measurement> quality;
  std::string not_measured;    // why quality is absent
  bool within_budget = false;  // measured and within every limit given
  bool on_front = false;
  std::optional<Comparison> vs_best, vs_base;
};

struct Advice {
  std::string model;
  QualityMetric metric;
  AdviseOptions options;
  std::optional<size_t> base_file;  // index into RunResults::files
  std::optional<Measurement> base_quality;
  std::string base_not_measured;
  std::vector<CandidateAdvice> candidates;  // every quantized file of the model, in the recipe's order
  std::vector<size_t> front;                // indices into candidates, smallest first
  size_t best = 0;                          // index into candidates: the best quality in the budget
  size_t recommended = 0;                   // index into candidates
  std::string reason;
};

// Throws Error for an unknown model or metric, a negative tolerance, a metric no file has a result
// for, or a budget no measured file meets (naming the flag and the smallest file there is).
Advice advise(const RunResults& run, const AdviseOptions& options);

// One JSON object (what `advise --json` prints) and the text `advise` prints.
nlohmann::ordered_json advice_json(const RunResults& run, const Advice& advice);
std::string advice_text(const RunResults& run, const Advice& advice);

}  // namespace quantlab::report
