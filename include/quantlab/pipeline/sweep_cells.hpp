#pragma once
// Running one cell of a sweep (sweep_plan.hpp): the same library calls `quantize`, `imatrix` and
// `eval ppl/kld/mc` make, with the recipe's settings instead of flags. A cell that writes a file
// writes it atomically (a temporary name, then a rename), so a file in RUN/files/ is whole or
// absent; the caller writes the cell's result only after that.
#include "quantlab/pipeline/sweep_plan.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace quantlab::pipeline {

// Runs cell `index` of `plan` with `threads` worker threads; its deps must be done. Returns
// {"inputs": provenance of what it read, "output": the file it wrote (path, size, sha256),
// "figures": its numbers}. Throws Error on failure (no file is left at cell.file then).
nlohmann::ordered_json run_sweep_cell(const Recipe& recipe, const SweepPlan& plan, size_t index, int threads);

// Removes whatever a killed run may have left for `cell.file`: the file or folder itself (not yet
// recorded as done) and the temporary names the atomic writers use beside it.
void remove_partial_outputs(const SweepCell& cell);

// A file's or folder's record: {"path", "size", "sha256"}; a folder's sha256 is that of the list
// of its files' names and hashes, its size their sum.
nlohmann::ordered_json file_record(const std::string& path);

}  // namespace quantlab::pipeline
