#pragma once
// Per-tensor bit allocation by measured sensitivity (`quantize --method gguf --target-bpw B` /
// `--target-size S`, docs/bit-allocation.md): every unit's sensitivity to each ladder type is
// measured (pipeline/sensitivity.hpp), the types minimising the summed KLD under the budget are
// chosen by an exact multiple-choice knapsack (quant/choice_knapsack.hpp), and the model is
// written as an ordinary GGUF with those types (llama-quantize's encoders and fallbacks) and the
// measurement in `quantlab.allocation.*` metadata.
//
// The budget is checked against what the ladder can reach before anything is measured, and the
// file written never exceeds it: its size is known exactly before it is written (metadata whose
// size does not depend on the choice, tensors padded to the alignment), and checked again after.
#include "quantlab/pipeline/allocation_budget.hpp"
#include "quantlab/pipeline/sensitivity.hpp"
#include "quantlab/quant/gguf_quantize.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

struct BitAllocationOptions {
  AllocationBudget budget;
  AllocationUnitKind unit = AllocationUnitKind::Group;
  std::vector<FormatId> ladder = default_allocation_ladder();
  const Imatrix* imatrix = nullptr;  // used to measure and to write, as llama-quantize uses it
  std::string imatrix_path;
  std::vector<int32_t> tokens;       // held-out text, tokenized
  std::string text_path, text_sha256;
  int64_t n_ctx = 256, n_chunks = 2;  // small: the bench model's measurement takes minutes
  int threads = 0;
  std::string params_json;           // recorded as quantlab.params
  // An earlier allocation GGUF of the same source, unit, ladder and imatrix: its measured table is
  // used instead of measuring again (another budget from one measurement).
  std::string reuse_path;
};

struct BitAllocationResult {
  std::vector<AllocationUnit> units;
  std::vector<int> choice;          // per unit, an index into the ladder
  double predicted_kld = 0;         // sum of the chosen candidates' measured KLD
  // In the budget's terms: tensor data bytes (bpw) or file bytes (size).
  uint64_t budget_bytes = 0, min_bytes = 0, max_bytes = 0, used_bytes = 0;
  uint64_t granule = 1;             // the knapsack's size unit
  double measure_seconds = 0;
  bool reused = false;
  std::string text_file, text_sha256;  // of the measurement (the reused file's when reused)
  int64_t n_ctx = 0, n_chunks = 0;
  GgufQuantizeResult written;
};

struct BitAllocationProgress {
  SensitivityProgress measure;
  GgufQuantizeProgress write;
};

// Throws Error (one line; nothing written) for a budget outside the ladder's reach, naming the
// range, for quantized source tensors, or for anything plan_allocation_units refuses.
BitAllocationResult run_bit_allocation(const std::string& in_path, const std::string& out_path,
                                       const BitAllocationOptions& o, const BitAllocationProgress& progress = {});

}  // namespace quantlab
