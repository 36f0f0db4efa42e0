#pragma once
// `quantlab sweep`: runs every cell of a recipe (sweep_plan.hpp) and leaves a run directory
//   RUN/recipe.yaml       the recipe as run
//   RUN/files/            bases, imatrices, quantized files, saved base logits
//   RUN/cells/<id>.json   one result per cell (inputs with size + sha256, figures, run info),
//                         written atomically once the cell's file is in place
//   RUN/sweep.json        every cell and its status, rewritten atomically as cells finish
// Resumable: a cell whose result file exists with the same key is not run again, so after a kill
// (even -9) the same command finishes the rest and every cell is computed exactly once; a file
// left without its result (killed between the two) is removed and made again. Up to `parallel`
// independent cells run at once, the threads split among them; every figure is the same whatever
// the split (quantlab's kernels give the same bits for any thread count).
#include "quantlab/pipeline/sweep_plan.hpp"
#include "quantlab/pipeline/sweep_recipe.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace quantlab::pipeline {

struct SweepProgress {
  size_t done = 0, total = 0;    // cells finished (reused, computed or failed) of all cells
  size_t reused = 0, computed = 0, failed = 0;
  std::string running;           // ids of the cells now running
  double seconds = 0;            // since the sweep started
  double eta_seconds = -1;       // < 0: unknown (nothing computed yet)
};

struct SweepOptions {
  int threads = -1;   // < 0: the recipe's
  int parallel = 0;   // <= 0: the recipe's
  std::string out;    // empty: the recipe's
  std::function<void(const SweepProgress&)> progress;  // after every change; from any thread, serialised
};

struct SweepSummary {
  std::string run_dir;
  size_t cells = 0, reused = 0, computed = 0, failed = 0, blocked = 0;  // blocked: a dependency failed
  double seconds = 0;
  nlohmann::ordered_json status;  // what RUN/sweep.json holds
};

// Throws Error when the run directory cannot be made; a failing cell does not stop the others (it
// is reported in the summary and sweep.json; cells that need it are blocked).
SweepSummary run_sweep(const Recipe& recipe, const SweepOptions& options);

// The result of `cell` if RUN/cells/<id>.json holds one with its key (and its file is there).
bool sweep_cell_done(const SweepPlan& plan, const SweepCell& cell);

// quantlab's source commit at build time ("" when unknown).
std::string quantlab_commit();

}  // namespace quantlab::pipeline
