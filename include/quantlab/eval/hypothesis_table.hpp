#pragma once
// Seed 001's hypothesis and win-rate tables. A grid of cells (a base model x a prompt set, ...) is
// evaluated under several conditions (the base itself and each quantized model); a row is one
// (backbone, distance) pair, e.g. "minilm l1". Per cell and row every condition has one aggregate
// distance to the base's replies and, when the prompts carry reference answers, one to the
// references. Lower is better. The hypotheses (docs/answers.md says them in words):
//   E1  the base's own entry (base against base) is the smallest distance to the base;
//   E2  it is within `ratio` times the smallest (ratio 1.05 or 1.1; ratio 1 is E1);
//   E3  the base's distance to the references is the smallest of all conditions';
//   E4  it is within `ratio` times the smallest;
//   E5  the condition closest to the base is also the one closest to the references.
// A hypothesis "holds" in a cell and row, or not; its win rate over a row is the share of cells
// where it holds. A value that is not finite never holds.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace quantlab {

struct HypothesisCell {
  std::string cell;                     // e.g. "prompts.jsonl sampled"
  std::string row;                      // e.g. "minilm l1"
  std::vector<std::string> conditions;  // names, the base's first by convention
  size_t base = 0;                      // index of the base's own entry in the vectors below
  std::vector<double> to_base;          // per condition: mean distance to the base's replies
  std::vector<double> to_reference;     // per condition, or empty when there are no references
};

// values[ref] <= ratio * min(values): the reference entry is the smallest within a tolerance.
bool smallest_within(std::span<const double> values, size_t ref, double ratio);
// The index of the smallest value (the first among equals); values.size() when none is finite.
size_t argmin_index(std::span<const double> values);

struct HypothesisVerdict {
  std::string hypothesis;  // "E1" ... "E5"
  double ratio = 1;        // tolerance (1 for E1, E3, E5)
  std::string cell, row;
  bool holds = false;
};

struct WinRate {
  std::string hypothesis;
  double ratio = 1;
  std::string row;
  int64_t wins = 0, cells = 0;
  double rate() const { return cells > 0 ? double(wins) / double(cells) : 0.0; }
};

// Every hypothesis in every cell and row: E1 and E2 (one per ratio) always, E3, E4 and E5 where the
// cell has reference distances. `ratios` are E2/E4's tolerances (seed 001 used 1.05 and 1.1).
// Throws Error when a cell's vectors disagree in length or its base index is out of range.
std::vector<HypothesisVerdict> seed001_verdicts(std::span<const HypothesisCell> cells, std::span<const double> ratios);

// Wins per (hypothesis, ratio, row) over cells, in the order the verdicts first name them.
std::vector<WinRate> win_rates(std::span<const HypothesisVerdict> verdicts);

}  // namespace quantlab
