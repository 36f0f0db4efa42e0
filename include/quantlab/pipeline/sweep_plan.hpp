#pragma once
// The cells of a sweep and what decides each (docs/sweep.md). A recipe becomes a graph of cells:
//   base        per model: the GGUF every configuration starts from (the source itself, its
//               dequantization, or a llama2.c checkpoint's conversion)
//   imatrix     per (model, calibration set) a gguf configuration collects its importance matrix from
//   quantize    per (model, configuration): the quantized file in RUN/files/
//   base-logits per (model, kld evaluation): the base's log-probs, saved once and reused
//   ppl, mc     per (file, evaluation), the bases included
//   kld         per (quantized file, kld evaluation)
// A cell's key is the SHA-256 of everything that decides its result: its settings, the SHA-256 of
// the input files it reads directly (source model, calibration data, evaluation text), the keys of
// the cells it reads from, and quantlab's version. Its id (RUN/cells/<id>.json) is a readable label
// and the key's first 12 hex digits, so changing anything that matters makes a new cell instead of
// reusing an old result, and renaming nothing changes no result.
#include "quantlab/pipeline/sweep_recipe.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace quantlab::pipeline {

enum class CellKind { Base, Imatrix, Quantize, BaseLogits, Ppl, Kld, Mc };
const char* cell_kind_name(CellKind k);

struct SweepCell {
  static constexpr size_t npos = size_t(-1);
  CellKind kind = CellKind::Base;
  std::string id;
  std::string key;
  nlohmann::ordered_json decides;  // what `key` hashes
  std::vector<size_t> deps;        // cells that must be done first
  size_t model = 0;                // index into Recipe::models
  int quantize = -1;               // Recipe::quantize index (quantize; evaluations of its file)
  int evaluation = -1;             // Recipe::evaluations index
  int calibration = -1;            // Recipe::calibration index (imatrix)
  size_t input = npos;             // the base/quantize cell whose file this cell reads
  size_t logits = npos;            // kld: its base-logits cell
  size_t imatrix = npos;           // quantize with an imatrix: that cell
  std::string file;                // the file (or folder) the cell produces or designates
  bool writes_file = false;        // false: `file` is the user's own (a GGUF base used as it is)
};

struct SweepPlan {
  std::string run_dir;
  std::vector<SweepCell> cells;  // in an order where every cell comes after its deps
  std::string cell_path(const SweepCell& c) const;  // RUN/cells/<id>.json
};

// Hashes the recipe's input files (source models, calibration data, evaluation texts): reading a
// large model takes a moment, once per run.
SweepPlan plan_sweep(const Recipe& recipe, const std::string& run_dir);

}  // namespace quantlab::pipeline
