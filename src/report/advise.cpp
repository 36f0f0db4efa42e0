// Ranking the files of one model (advise.hpp): measure, budget, front, best, recommendation,
// comparisons; the paragraph is advice_reason.cpp's.
#include "quantlab/report/advise.hpp"

#include "advice_reason.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/eval/mcnemar.hpp"
#include "quantlab/report/figure_format.hpp"
#include "quantlab/report/mc_correctness.hpp"
#include "quantlab/report/pareto.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace quantlab::report {
namespace fs = std::filesystem;

namespace {

std::string choose_model(const RunResults& run, const std::string& wanted) {
  std::string names;
  for (const std::string& m : run.models) names += (names.empty() ? "" : ", ") + m;
  if (wanted.empty()) {
    if (run.models.size() != 1) throw Error("--model", "", "the run has several models (" + names + "): name one");
    return run.models[0];
  }
  if (std::find(run.models.begin(), run.models.end(), wanted) == run.models.end())
    throw Error("--model", wanted, "no such model in the run (it has " + names + ")");
  return wanted;
}

class Advisor {
 public:
  Advisor(const RunResults& run, const AdviseOptions& o) : run_(run) {
    a_.options = o;
    if (!(o.tolerance >= 0) || !std::isfinite(o.tolerance))
      throw Error("--tolerance", significant(o.tolerance), "must be a finite number >= 0");
    a_.model = choose_model(run, o.model);
    a_.metric = choose_metric(run, o.metric);
  }

  Advice run() {
    collect();
    const std::vector<size_t> measured = measured_candidates();
    if (measured.empty()) throw Error((fs::path(run_.dir) / "sweep.json").string(), a_.metric.figure(), nothing_measured());
    rank(measured);
    compare_all();
    a_.reason = advice_reason(a_);
    return std::move(a_);
  }

 private:
  void collect() {
    for (size_t i = 0; i < run_.files.size(); ++i) {
      const RunFile& f = run_.files[i];
      if (f.model != a_.model) continue;
      if (f.is_base()) {
        a_.base_file = i;
        a_.base_quality = measure(run_, f, a_.metric);
        if (!a_.base_quality) a_.base_not_measured = unmeasured_reason(f, a_.metric);
        continue;
      }
      CandidateAdvice c;
      c.file = i;
      c.name = f.config;
      c.size = f.file_size;
      c.bpw = f.bits_per_weight;
      c.quality = measure(run_, f, a_.metric);
      if (!c.quality) c.not_measured = unmeasured_reason(f, a_.metric);
      const AdviseOptions& o = a_.options;
      c.within_budget = c.quality && (!o.max_size || *c.size <= *o.max_size) && (!o.max_bpw || *c.bpw <= *o.max_bpw);
      a_.candidates.push_back(std::move(c));
    }
  }

  std::vector<size_t> measured_candidates() const {
    std::vector<size_t> m;
    for (size_t i = 0; i < a_.candidates.size(); ++i)
      if (a_.candidates[i].quality) m.push_back(i);
    return m;
  }

  std::string nothing_measured() const {
    std::string why;
    for (const CandidateAdvice& c : a_.candidates) why += (why.empty() ? "" : "; ") + c.name + ": " + c.not_measured;
    return "no quantized file of model " + a_.model + " has a " + a_.metric.label() + " result (" +
           (why.empty() ? "the model has no quantized file" : why) + ")";
  }

  void rank(const std::vector<size_t>& measured) {
    std::vector<SizeQuality> points;
    for (size_t i : measured) points.push_back({*a_.candidates[i].size, a_.candidates[i].quality->value});
    for (size_t k : pareto_front(points, a_.metric.higher_is_better())) {
      a_.front.push_back(measured[k]);
      a_.candidates[measured[k]].on_front = true;
    }
    std::vector<size_t> in_budget;
    for (size_t i : measured)
      if (a_.candidates[i].within_budget) in_budget.push_back(i);
    if (in_budget.empty()) refuse_budget(measured);
    // Best quality; of equals, the smaller file.
    a_.best = in_budget[0];
    for (size_t i : in_budget) {
      const CandidateAdvice &c = a_.candidates[i], &b = a_.candidates[a_.best];
      if (a_.metric.better(c.quality->value, b.quality->value) || (c.quality->value == b.quality->value && *c.size < *b.size)) a_.best = i;
    }
    // The smallest file no more than `tolerance` worse than the best.
    const double best = a_.candidates[a_.best].quality->value;
    a_.recommended = a_.best;
    for (size_t i : in_budget) {
      const CandidateAdvice& c = a_.candidates[i];
      const double worse_by = a_.metric.higher_is_better() ? best - c.quality->value : c.quality->value - best;
      if (worse_by <= a_.options.tolerance && *c.size < *a_.candidates[a_.recommended].size) a_.recommended = i;
    }
  }

  [[noreturn]] void refuse_budget(const std::vector<size_t>& measured) const {
    const AdviseOptions& o = a_.options;
    size_t smallest = measured[0];
    for (size_t i : measured)
      if (*a_.candidates[i].size < *a_.candidates[smallest].size) smallest = i;
    const CandidateAdvice& s = a_.candidates[smallest];
    const std::string flag = o.max_size && o.max_bpw ? "--max-size/--max-bpw" : o.max_size ? "--max-size" : "--max-bpw";
    std::string limit;
    if (o.max_size) limit = human_size(*o.max_size);
    if (o.max_bpw) limit += (limit.empty() ? "" : ", ") + significant(*o.max_bpw) + " bpw";
    throw Error(flag, limit, "no measured file of model " + a_.model + " is within the budget (the smallest is " + s.name + ", " +
                                 human_size(*s.size) + ", " + significant(*s.bpw) + " bpw)");
  }

  // Per-question correctness of a file in the metric's mc evaluation, when paired answers exist.
  std::optional<std::vector<bool>> correctness(size_t file) const {
    if (a_.metric.evaluation.kind != "mc") return std::nullopt;
    const EvaluationResult* r = run_.files[file].find(a_.metric.evaluation);
    return r ? mc_correctness(run_, *r, a_.metric.rule) : std::nullopt;
  }

  Comparison compare(size_t file, const Measurement& q, const std::string& ref_name, size_t ref_file, const Measurement& ref) const {
    Comparison c;
    c.reference = ref_name;
    c.difference = q.value - ref.value;
    const auto mine = correctness(file), theirs = correctness(ref_file);
    if (mine && theirs && mine->size() == theirs->size()) {
      const McNemarResult m = mcnemar(*mine, *theirs);
      c.test = "McNemar exact";
      c.questions = m.n;
      c.only_file = m.only_a;
      c.only_reference = m.only_b;
      c.p_value = m.p_value;
      c.distinguishable = m.p_value < kSignificance;
    } else {
      // Disjoint 95 % intervals. For PPL on the same text this is conservative: the two files' errors
      // are strongly correlated, which the stored per-file stderr cannot show.
      c.test = "95% intervals";
      c.distinguishable = std::fabs(c.difference) > kZ95 * (q.stderr_ + ref.stderr_);
    }
    return c;
  }

  void compare_all() {
    const CandidateAdvice& best = a_.candidates[a_.best];
    for (CandidateAdvice& c : a_.candidates) {
      if (!c.quality) continue;
      c.vs_best = compare(c.file, *c.quality, best.name, best.file, *best.quality);
      if (a_.base_quality) c.vs_base = compare(c.file, *c.quality, "base", *a_.base_file, *a_.base_quality);
    }
  }

  const RunResults& run_;
  Advice a_;
};

}  // namespace

Advice advise(const RunResults& run, const AdviseOptions& options) { return Advisor(run, options).run(); }

}  // namespace quantlab::report
