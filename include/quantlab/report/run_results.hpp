#pragma once
// A sweep's run directory (pipeline/sweep.hpp, docs/sweep.md) read back as what `quantlab advise`
// and `quantlab report` need: for each model, its base and every quantized file, each joined with
// the result of every evaluation of it. Cells are taken from RUN/sweep.json (which lists every cell,
// done or not) and their results from RUN/cells/<id>.json, so a file whose quantization or whose
// evaluation failed, was blocked or has not run yet is still there with its status and error:
// nothing a run holds is silently left out.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace quantlab::report {

// A cell's state as sweep.json records it; done and reused both mean "its result is there".
struct CellStatus {
  std::string id;
  std::string status;  // pending, running, done, reused, failed, blocked
  std::string error;   // failed or blocked: why
  bool finished() const { return status == "done" || status == "reused"; }
};

// An evaluation of the recipe, as its cells name it: `kind` is ppl, kld or mc; ppl and kld
// evaluations of the same text often share a name, so the pair identifies it.
struct EvaluationRef {
  std::string kind, name;
  bool operator==(const EvaluationRef&) const = default;
};

struct EvaluationResult {
  EvaluationRef evaluation;
  CellStatus cell;
  nlohmann::ordered_json figures;  // the cell's figures; null unless cell.finished()
  nlohmann::ordered_json inputs;   // the cell's inputs (text or question file, with sha256)
};

// The base or a quantized file of one model.
struct RunFile {
  std::string model;
  std::string config;  // the quantize configuration's name; empty for the base
  bool is_base() const { return config.empty(); }
  CellStatus cell;     // the base or quantize cell
  std::string path;    // relative to the run directory when the sweep wrote it
  std::optional<double> file_size, bits_per_weight;  // from the cell's figures, once it is done
  nlohmann::ordered_json figures;      // the base or quantize cell's figures
  nlohmann::ordered_json calibration;  // provenance of its calibration set (its own, or its imatrix's); null if none
  std::string imatrix_calibration;     // the calibration set name of its imatrix, if it has one
  std::vector<EvaluationResult> evaluations;  // in RunResults::evaluations order; the base has no kld cell
  const EvaluationResult* find(const EvaluationRef& e) const;
};

struct RunResults {
  std::string dir;
  std::string recipe;             // as sweep.json names it
  std::string quantlab_version;   // of the sweep that last wrote sweep.json
  std::string commit;
  std::vector<std::string> models;           // in the recipe's order
  std::vector<EvaluationRef> evaluations;    // in the recipe's order
  std::vector<RunFile> files;                // per model: the base, then the configurations in order
  std::vector<CellStatus> other_cells;       // imatrix and base-logits cells
  std::vector<std::string> versions_in_cells;  // distinct quantlab versions/commits the results name
};

// Reads `dir`. Throws Error naming the file and field for a missing directory, a missing or
// malformed sweep.json or cell result, a result whose key differs from sweep.json's, or a run with
// no quantize cell.
RunResults read_run(const std::string& dir);

}  // namespace quantlab::report
