// quantlab sweep RECIPE.yaml: reads and checks the recipe, then hands it to the library's sweep
// (pipeline/sweep.hpp); this file only parses flags, shows progress and prints the summary.
#include "command.hpp"

#include "quantlab/pipeline/sweep.hpp"

#include <unistd.h>

#include <cstdio>

namespace quantlab::cli {
namespace {

int run_sweep_command(const Args& a) {
  if (a.positional().size() != 1) throw Error("sweep", "", "give one recipe file: quantlab sweep RECIPE.yaml");
  const std::string path = a.positional()[0];
  const bool json = a.has("json");
  pipeline::Recipe recipe;
  try {
    recipe = pipeline::read_recipe(path, pipeline::fetch_assets_resolver(path));
  } catch (const pipeline::RecipeError& e) {
    // Every problem of the recipe, one line each (the usual one-line error covers a single one).
    for (const std::string& line : e.lines()) std::fprintf(stderr, "quantlab sweep: error: %s\n", line.c_str());
    if (json) print_json({{"error", {{"source", path}, {"messages", e.lines()}}}});
    return 1;
  }
  pipeline::SweepOptions o;
  if (a.has("threads")) {
    const long long t = a.get_int("threads", 0);
    if (t < 0 || t > 1024) throw Error("--threads", std::to_string(t), "must be between 0 (all cores) and 1024");
    o.threads = int(t);
  }
  if (a.has("parallel")) {
    const long long p = a.get_int("parallel", 1);
    if (p < 1 || p > 64) throw Error("--parallel", std::to_string(p), "must be between 1 and 64");
    o.parallel = int(p);
  }
  o.out = a.get_or("out", "");
  if (a.has("plan")) {  // what would run, without running it
    const pipeline::SweepPlan plan = pipeline::plan_sweep(recipe, o.out.empty() ? recipe.out : o.out);
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    for (const auto& c : plan.cells)
      cells.push_back({{"cell", c.id}, {"kind", pipeline::cell_kind_name(c.kind)}, {"done", pipeline::sweep_cell_done(plan, c)}});
    if (json) print_json({{"command", "sweep"}, {"plan", cells}});
    else
      for (const auto& c : cells) std::printf("%s%s\n", c["cell"].get<std::string>().c_str(), c["done"].get<bool>() ? " (done)" : "");
    return 0;
  }
  // The progress line only on a terminal: logs and pipes get the summary alone.
  const bool tty = !json && ::isatty(2);
  if (tty)
    o.progress = [](const pipeline::SweepProgress& p) {
      std::fprintf(stderr, "\r\033[Ksweep: cell %zu/%zu (%zu reused, %zu failed), %.0fs", p.done, p.total, p.reused, p.failed,
                   p.seconds);
      if (p.eta_seconds >= 0) std::fprintf(stderr, ", ETA %.0fs", p.eta_seconds);
      if (!p.running.empty()) std::fprintf(stderr, "  %s", p.running.c_str());
      std::fflush(stderr);
    };
  const pipeline::SweepSummary s = pipeline::run_sweep(recipe, o);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (json) {
    print_json({{"command", "sweep"}, {"recipe", path}, {"run_dir", s.run_dir}, {"cells", s.cells}, {"reused", s.reused},
                {"computed", s.computed}, {"failed", s.failed}, {"blocked", s.blocked}, {"seconds", s.seconds}});
  } else {
    std::printf("%s: %zu cells: %zu computed, %zu reused, %zu failed, %zu blocked; %.1f s (results in %s/cells, status in %s/sweep.json)\n",
                path.c_str(), s.cells, s.computed, s.reused, s.failed, s.blocked, s.seconds, s.run_dir.c_str(), s.run_dir.c_str());
    for (const auto& c : s.status["cells"])
      if (c.contains("error"))
        std::fprintf(stderr, "quantlab sweep: %s %s: %s\n", c["cell"].get<std::string>().c_str(), c["status"].get<std::string>().c_str(),
                     c["error"].get<std::string>().c_str());
  }
  return s.failed + s.blocked > 0 ? 1 : 0;
}

QUANTLAB_COMMAND(Command{
    "sweep",
    "run models x quantizations x calibration sets x evaluations from a YAML recipe, resumably",
    {{"out", Takes::Value, "run directory (default: the recipe's `out`)"},
     {"threads", Takes::Value, "worker threads in all (default: the recipe's `threads`, else all cores)"},
     {"parallel", Takes::Value, "cells at once, the threads split among them (default: the recipe's `parallel`, else 1)"},
     {"plan", Takes::Nothing, "list the cells and which are done, run nothing"}},
    run_sweep_command,
    {"RECIPE.yaml", "the recipe (docs/sweep.md)", 1}});

}  // namespace
}  // namespace quantlab::cli
