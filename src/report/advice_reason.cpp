#include "advice_reason.hpp"

#include "quantlab/report/figure_format.hpp"

namespace quantlab::report {

namespace {

std::string names(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
  return s;
}

std::string budget_text(const AdviseOptions& o) {
  std::string s;
  if (o.max_size) s = "at most " + human_size(*o.max_size);
  if (o.max_bpw) s += (s.empty() ? "at most " : " and ") + significant(*o.max_bpw) + " bits per weight";
  return s;
}

std::string test_text(const Comparison& c) {
  if (c.test == "McNemar exact")
    return "McNemar's exact test over " + std::to_string(c.questions) + " questions, " + std::to_string(c.only_file) + " vs " +
           std::to_string(c.only_reference) + " answered right by one only, p = " + significant(c.p_value, 3);
  return "the 95 % intervals " + std::string(c.distinguishable ? "are disjoint" : "overlap");
}

// Smaller files in the budget that the statistics cannot tell from the best: the cheaper choice
// may cost nothing measurable, which a reader should know before paying for the bigger file.
std::string cheaper_equals(const Advice& a, const CandidateAdvice& r) {
  std::vector<std::string> cheaper;
  const CandidateAdvice* smallest = nullptr;
  for (const CandidateAdvice& c : a.candidates)
    if (c.within_budget && *c.size < *r.size && c.vs_best && !c.vs_best->distinguishable) {
      cheaper.push_back(c.name);
      if (!smallest || *c.size < *smallest->size) smallest = &c;
    }
  if (!smallest) return "";
  return std::string(" ") + names(cheaper) + (cheaper.size() == 1 ? " is" : " are") + " smaller and not distinguishable from " +
         a.candidates[a.best].name + " on this evaluation; " + smallest->name + " would save " + human_size(*r.size - *smallest->size) +
         " at no measurable cost, so a larger evaluation could change the choice.";
}

std::string against_base(const Advice& a, const CandidateAdvice& r) {
  if (!r.vs_base) return " The base has no " + a.metric.label() + " result (" + a.base_not_measured + "), so no comparison with it.";
  const Comparison& c = *r.vs_base;
  std::string s = " Against the base (" + measurement_text(a.metric, *a.base_quality) + "), it ";
  if (!c.distinguishable) return s + "is not distinguishable (" + test_text(c) + ").";
  const bool worse = a.metric.better(a.base_quality->value, r.quality->value);
  return s + "is measurably " + (worse ? "worse" : "better") + " (" + test_text(c) + ").";
}

}  // namespace

std::string measurement_text(const QualityMetric& metric, const Measurement& m) {
  if (metric.evaluation.kind == "mc") return percent(m.value) + " ± " + percent(m.stderr_);
  return significant(m.value) + " ± " + significant(m.stderr_);
}

std::string advice_reason(const Advice& a) {
  const CandidateAdvice& r = a.candidates[a.recommended];
  const CandidateAdvice& b = a.candidates[a.best];
  size_t measured = 0, in_budget = 0;
  for (const CandidateAdvice& c : a.candidates) {
    measured += c.quality.has_value();
    in_budget += c.within_budget;
  }
  const std::string budget = budget_text(a.options);
  std::string s = "Ship " + r.name + " (" + human_size(*r.size) + ", " + significant(*r.bpw) + " bits per weight, " +
                  a.metric.label() + " " + measurement_text(a.metric, *r.quality) + "). ";
  s += budget.empty() ? "Of the " + std::to_string(measured) + " measured files"
                      : "Of the " + std::to_string(in_budget) + " of " + std::to_string(measured) + " measured files with " + budget;
  if (a.recommended == a.best) {
    s += ", it has the best " + a.metric.label() + ".";
  } else {
    s += ", it is the smallest within the tolerance of " + significant(a.options.tolerance) + " of the best, " + b.name + " (" +
         measurement_text(a.metric, *b.quality) + "), and " + human_size(*b.size - *r.size) + " smaller; the difference " +
         (r.vs_best->distinguishable ? "is" : "is not") + " distinguishable (" + test_text(*r.vs_best) + ").";
  }
  s += cheaper_equals(a, r);
  s += against_base(a, r);
  std::vector<std::string> better_outside;
  for (const CandidateAdvice& c : a.candidates)
    if (c.quality && !c.within_budget && a.metric.better(c.quality->value, b.quality->value)) better_outside.push_back(c.name);
  if (!better_outside.empty())
    s += " Beyond the budget, " + names(better_outside) + (better_outside.size() == 1 ? " measures" : " measure") + " better.";
  std::vector<std::string> unranked;
  for (const CandidateAdvice& c : a.candidates)
    if (!c.quality) unranked.push_back(c.name + " (" + c.not_measured + ")");
  if (!unranked.empty())
    s += " Not ranked, for want of a result: " + names(unranked) + ".";
  return s;
}

}  // namespace quantlab::report
