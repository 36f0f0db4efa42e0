// quantlab advise RUN: which file of a sweep to ship (report/advise.hpp); this file only parses
// flags and prints.
#include "command.hpp"

#include "quantlab/core/byte_size.hpp"
#include "quantlab/report/advise.hpp"

#include <cmath>
#include <cstdio>

namespace quantlab::cli {
namespace {

int run_advise_command(const Args& a) {
  if (a.positional().size() != 1) throw Error("advise", "", "give one run directory: quantlab advise RUN");
  report::AdviseOptions o;
  o.model = a.get_or("model", "");
  o.metric = a.get_or("metric", "");
  if (a.has("metric") && o.metric.empty()) throw Error("--metric", "", "empty (kld, ppl, mc:EVALUATION, ...)");
  if (a.has("max-size")) o.max_size = parse_byte_size(a.require("max-size"), "--max-size");
  if (a.has("max-bpw")) {
    const double b = a.get_double("max-bpw", 0);
    if (!(b > 0) || !std::isfinite(b)) throw Error("--max-bpw", a.require("max-bpw"), "must be a positive number of bits per weight");
    o.max_bpw = b;
  }
  o.tolerance = a.get_double("tolerance", 0);
  if (!(o.tolerance >= 0) || !std::isfinite(o.tolerance))
    throw Error("--tolerance", a.require("tolerance"), "must be a finite number >= 0 (in the metric's units)");
  const report::RunResults run = report::read_run(a.positional()[0]);
  const report::Advice advice = report::advise(run, o);
  if (a.has("json")) print_json(report::advice_json(run, advice));
  else std::fputs(report::advice_text(run, advice).c_str(), stdout);
  return 0;
}

QUANTLAB_COMMAND(Command{
    "advise",
    "which file of a sweep to ship: Pareto front, the best file within a budget, and what the statistics can tell apart",
    {{"max-size", Takes::Value, "largest file to ship (2.5GiB, 800MB, ...)"},
     {"max-bpw", Takes::Value, "most bits per weight to ship"},
     {"metric", Takes::Value, "kld, ppl, mc, KIND:EVALUATION or mc:EVALUATION:RULE (default: the first kld evaluation, else ppl)"},
     {"tolerance", Takes::Value, "take the smallest file at most this much worse than the best, in the metric's units (default 0)"},
     {"model", Takes::Value, "the model of the run to advise on (needed when it has several)"}},
    run_advise_command,
    {"RUN", "a run directory written by quantlab sweep", 1}});

}  // namespace
}  // namespace quantlab::cli
