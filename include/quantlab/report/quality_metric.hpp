#pragma once
// Which figure of a sweep decides "better" (quantlab advise --metric): the mean KLD of a kld
// evaluation, the perplexity of a ppl evaluation, or the accuracy of an mc evaluation under one
// answer rule; and that figure with its standard error for one file of the run.
#include "quantlab/report/run_results.hpp"

#include <optional>
#include <string>

namespace quantlab::report {

struct QualityMetric {
  EvaluationRef evaluation;
  std::string rule;  // mc: the answer rule (sum, per-token, per-char, uncond); else empty
  bool higher_is_better() const { return evaluation.kind == "mc"; }
  std::string figure() const;  // "kld_mean", "ppl", "accuracy.per-char"
  std::string label() const;   // "mean KLD (wiki)", "PPL (wiki)", "accuracy, per-char (arc-easy)"
  // True when `a` is strictly better than `b`.
  bool better(double a, double b) const { return higher_is_better() ? a > b : a < b; }
};

// The default answer rule of an mc metric: lm-eval's acc_norm (length-normalised), which the bench
// sweep's table reports.
inline constexpr const char* kDefaultMcRule = "per-char";

// `spec` as --metric takes it: "kld", "ppl", "mc" (the first evaluation of that kind), "KIND:EVAL",
// "mc:EVAL:RULE"; empty: the first kld evaluation, else the first ppl one. Throws Error("--metric",
// spec, ...) naming the evaluations the run has when the spec names none of them.
QualityMetric choose_metric(const RunResults& run, const std::string& spec);

struct Measurement {
  double value = 0;
  double stderr_ = 0;
};

// The metric of `file`: nullopt when its evaluation has no finished result (see unmeasured_reason).
// The base's KLD against itself is 0 by definition (no cell measures it). Throws Error naming the
// cell file and field when a finished result lacks the figure.
std::optional<Measurement> measure(const RunResults& run, const RunFile& file, const QualityMetric& metric);

// Why `file` has no measurement: its own cell's or its evaluation's status and error.
std::string unmeasured_reason(const RunFile& file, const QualityMetric& metric);

}  // namespace quantlab::report
