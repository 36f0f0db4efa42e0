#pragma once
// Question-by-question correctness of one file in an mc evaluation of a sweep, for paired tests:
// the cell's stored answers under a rule compared with the gold answers. Gold comes from the cell
// (`figures.gold`, written by sweeps since quantlab advise) or, for older runs, from the question
// file the cell names in `inputs.data` when that file is still there with the same SHA-256.
#include "quantlab/report/run_results.hpp"

#include <optional>
#include <string>
#include <vector>

namespace quantlab::report {

// nullopt when the answers or the gold cannot be had (an unfinished cell, a moved or changed question
// file). Throws Error naming the cell file and field for answers of the wrong shape.
std::optional<std::vector<bool>> mc_correctness(const RunResults& run, const EvaluationResult& mc, const std::string& rule);

}  // namespace quantlab::report
