// An advice as `advise --json` prints it (one object) and as `advise` prints it (a table, then the
// paragraph).
#include "quantlab/report/advise.hpp"

#include "advice_reason.hpp"

#include "quantlab/report/figure_format.hpp"

#include <algorithm>

namespace quantlab::report {
using ojson = nlohmann::ordered_json;

namespace {

ojson optional_number(const std::optional<double>& v) { return v ? ojson(*v) : ojson(); }

ojson measurement_json(const std::optional<Measurement>& m) {
  if (!m) return ojson();
  return {{"value", m->value}, {"stderr", m->stderr_}, {"low95", m->value - kZ95 * m->stderr_}, {"high95", m->value + kZ95 * m->stderr_}};
}

ojson comparison_json(const std::optional<Comparison>& c) {
  if (!c) return ojson();
  ojson j{{"reference", c->reference}, {"test", c->test}, {"difference", c->difference}, {"distinguishable", c->distinguishable}};
  if (c->test == "McNemar exact") {
    j["questions"] = c->questions;
    j["right_only_in_file"] = c->only_file;
    j["right_only_in_reference"] = c->only_reference;
    j["p_value"] = c->p_value;
  }
  return j;
}

std::string padded(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s;
}

std::string verdict(const std::optional<Comparison>& c) {
  if (!c) return "-";
  std::string s = c->distinguishable ? "differs" : "same";
  if (c->test == "McNemar exact") s += " (p=" + significant(c->p_value, 2) + ")";
  return s;
}

}  // namespace

ojson advice_json(const RunResults& run, const Advice& a) {
  ojson files = ojson::array();
  for (const CandidateAdvice& c : a.candidates) {
    const RunFile& f = run.files[c.file];
    ojson j{{"config", c.name},
            {"status", f.cell.status},
            {"path", f.path},
            {"file_size", optional_number(c.size)},
            {"bits_per_weight", optional_number(c.bpw)},
            {"quality", measurement_json(c.quality)}};
    if (!c.quality) j["not_measured"] = c.not_measured;
    j["within_budget"] = c.within_budget;
    j["on_pareto_front"] = c.on_front;
    j["vs_best"] = comparison_json(c.vs_best);
    j["vs_base"] = comparison_json(c.vs_base);
    files.push_back(std::move(j));
  }
  ojson front = ojson::array();
  for (size_t i : a.front) front.push_back(a.candidates[i].name);
  ojson base;
  if (a.base_file) {
    const RunFile& b = run.files[*a.base_file];
    base = {{"status", b.cell.status}, {"path", b.path}, {"file_size", optional_number(b.file_size)},
            {"bits_per_weight", optional_number(b.bits_per_weight)}, {"quality", measurement_json(a.base_quality)}};
    if (!a.base_quality) base["not_measured"] = a.base_not_measured;
  }
  const AdviseOptions& o = a.options;
  return {{"command", "advise"},
          {"run_dir", run.dir},
          {"model", a.model},
          {"metric",
           {{"kind", a.metric.evaluation.kind}, {"evaluation", a.metric.evaluation.name}, {"rule", a.metric.rule},
            {"figure", a.metric.figure()}, {"label", a.metric.label()}, {"higher_is_better", a.metric.higher_is_better()}}},
          {"budget", {{"max_size", optional_number(o.max_size)}, {"max_bpw", optional_number(o.max_bpw)}, {"tolerance", o.tolerance}}},
          {"recommended", a.candidates[a.recommended].name},
          {"best_in_budget", a.candidates[a.best].name},
          {"pareto_front", front},
          {"base", base},
          {"files", files},
          {"reason", a.reason}};
}

std::string advice_text(const RunResults& run, const Advice& a) {
  std::string s = run.dir + ": model " + a.model + ", ranked by " + a.metric.label() + " (" +
                  (a.metric.higher_is_better() ? "higher" : "lower") + " is better; ± is one standard error)\n\n";
  size_t width = 6;
  for (const CandidateAdvice& c : a.candidates) width = std::max(width, c.name.size() + 2);
  s += padded("  file", width + 2) + padded("size", 12) + padded("bpw", 8) + padded(a.metric.evaluation.kind, 26) +
       padded("vs best", 16) + "vs base\n";
  if (a.base_file) {
    const RunFile& b = run.files[*a.base_file];
    s += "  " + padded("(base)", width) + padded(b.file_size ? human_size(*b.file_size) : "-", 12) +
         padded(b.bits_per_weight ? significant(*b.bits_per_weight) : "-", 8) +
         (a.base_quality ? measurement_text(a.metric, *a.base_quality) : b.cell.status) + "\n";
  }
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    const CandidateAdvice& c = a.candidates[i];
    // "*" recommended, "+" on the Pareto front.
    const char mark = i == a.recommended ? '*' : c.on_front ? '+' : ' ';
    s += std::string(1, mark) + " " + padded(c.name, width) + padded(c.size ? human_size(*c.size) : "-", 12) +
         padded(c.bpw ? significant(*c.bpw) : "-", 8);
    if (!c.quality) {
      s += "not ranked: " + c.not_measured + "\n";
      continue;
    }
    s += padded(measurement_text(a.metric, *c.quality), 26) + padded(i == a.best ? "best" : verdict(c.vs_best), 16) + verdict(c.vs_base) +
         (c.within_budget ? "" : "  (beyond the budget)") + "\n";
  }
  s += "\n* recommended, + on the Pareto front (size vs " + a.metric.label() + ")\n\n" + a.reason + "\n";
  return s;
}

}  // namespace quantlab::report
