#pragma once
// Sensitivity of a model to quantizing one part of it (the measurement behind bit allocation,
// docs/bit-allocation.md): for each unit (a tensor, one layer's attention or FFN tensors, or a
// whole layer) and each candidate type, the mean KL divergence from the float model of the model in
// which only that unit is quantized, on held-out text cut into chunks as llama-perplexity cuts it
// (the second half of each chunk scored, against the base's log-probabilities compressed as
// llama.cpp stores them, so a figure reads like `eval kld`'s).
//
// Cost: the base runs once, keeping each layer's input for every token; a candidate of layer L
// then runs only layers L..end and the output head's scored rows. Candidates whose per-tensor
// types coincide (a K type that falls back to the same 32-block type on narrow rows) are measured
// once. Each unit is quantized in memory, row by row with the imatrix as llama-quantize would, into
// the very block types the file will hold, and multiplied the way `eval` multiplies them.
// Every figure is the same whatever the thread count (fixed-order kernels, sums in token order).
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace quantlab {

enum class AllocationUnitKind { Tensor, Group, Layer };
// "tensor", "group" (a layer's attention tensors, its FFN tensors), "layer"; throws Error naming
// --alloc-unit otherwise.
AllocationUnitKind parse_allocation_unit(const std::string& name);
const char* allocation_unit_name(AllocationUnitKind kind);

// Q2_K, Q3_K, IQ4_XS, Q4_K, Q5_K, Q6_K, Q8_0: llama.cpp's K ladder with its row-length fallbacks
// (Q4_0, Q4_0, IQ4_NL, Q5_0, Q5_1, Q8_0 on rows that are not a multiple of 256), plus IQ4_XS, whose
// fallback IQ4_NL is the best 4.5-bit type for such rows and needs no imatrix.
std::vector<FormatId> default_allocation_ladder();
// A comma-separated list of GGUF tensor types, smallest first is not required; throws Error naming
// --alloc-types for an unknown, unencodable, unquantized or repeated type.
std::vector<FormatId> parse_allocation_ladder(const std::string& list);

struct AllocationCandidate {
  FormatId ladder_type = FormatId::F32;  // the ladder's type
  std::vector<FormatId> types;           // per tensor of the unit, after llama.cpp's row-length fallback
  uint64_t bytes = 0;                    // the unit's tensor data in these types
  uint64_t padded_bytes = 0;             // the same with each tensor padded to the file's alignment
  double kld = 0;                        // measured mean KLD (nats) with only this unit so quantized
  int same_as = -1;                      // an earlier candidate with the same types (measured once)
};

struct AllocationUnit {
  std::string name;                  // "blk.3.attn", "blk.3.ffn_down.weight", "token_embd.weight", ...
  std::vector<std::string> tensors;  // GGUF tensor names
  std::vector<AllocationCandidate> candidates;  // one per ladder type, in ladder order
};

// The units of `in` and their candidates (types and sizes; kld not yet measured). Every tensor
// llama-quantize would quantize belongs to exactly one unit; the embedding and the output head are
// units of their own. Throws Error naming the tensor when a ladder type needs an imatrix that is
// absent, or when a quantizable tensor is not one the forward pass can swap (no linear of a layer).
std::vector<AllocationUnit> plan_allocation_units(const GgufFile& in, AllocationUnitKind kind,
                                                  const std::vector<FormatId>& ladder, const Imatrix* imatrix);

struct SensitivityOptions {
  int64_t n_ctx = 256;
  int64_t n_chunks = 2;
  int threads = 0;                  // <= 0: all cores
  const Imatrix* imatrix = nullptr;
};

// (done, total, unit name): after each measured candidate.
using SensitivityProgress = std::function<void(int64_t, int64_t, const std::string&)>;

// Fills every candidate's kld. `model_path` is a GGUF whose unit tensors are F32/F16/BF16; `tokens`
// the held-out text (BOS first when the model adds one). Throws Error when the text is shorter
// than one chunk.
void measure_sensitivity(const std::string& model_path, std::span<const int32_t> tokens, const SensitivityOptions& o,
                         std::vector<AllocationUnit>& units, const SensitivityProgress& progress = {});

}  // namespace quantlab
