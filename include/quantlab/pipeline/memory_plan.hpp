#pragma once
// What a layer-sequential quantization (quantize_model) adds to memory, known before it starts:
// the parts on the host and on the GPU, each computed from the model's shapes, the options and the
// calibration set's shape. quantize_model refuses a budget (QuantizeOptions::max_host_bytes /
// max_device_bytes, or the GPU's free memory) that the plan exceeds before any work, saying what
// would fit; the CLI reports the plan beside the measured peaks (docs/quantizers.md, "Memory").
//
// Host parts are what the run adds to the process (its resident set at the start, the program,
// tokenizer and calibration text, is not part of the plan). Device parts are the backend's own
// buffers (Backend::memory_use: not the CUDA context or cuBLAS's workspace).
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace quantlab::pipeline {

struct QuantizeOptions;

struct MemoryPart {
  std::string name;  // what it holds, e.g. "layer blk.3 (f32 working copy)"
  double bytes = 0;
};

struct CalibrationShape {
  int64_t tokens = 0;          // all calibration samples together
  int64_t longest_sample = 0;  // the KV cache holds one sample at a time
  int64_t samples = 0;
};

struct MemoryPlan {
  std::vector<MemoryPart> host;
  std::vector<MemoryPart> device;  // empty when nothing runs on a GPU
  double host_bytes() const;
  double device_bytes() const;
};

MemoryPlan plan_memory(const Model& model, const QuantizeOptions& options, const CalibrationShape& calibration);

// Throws Error naming `flag` when `need` > `budget` (> 0), with the plan's parts and what would fit:
// at most how many calibration tokens (host) or how large a micro-batch (GPU). `what` names the
// budget ("--max-host-memory 8GiB", "the free memory of cuda:0 (79.1 GiB)").
void check_memory_budget(const Model& model, const QuantizeOptions& options, const CalibrationShape& calibration,
                         bool device, double budget, const std::string& flag, const std::string& what);

// "3.52 GiB", "812.0 MiB": a size for messages and reports.
std::string format_bytes(double bytes);

}  // namespace quantlab::pipeline
