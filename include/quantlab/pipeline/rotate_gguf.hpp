#pragma once
// A GGUF model rotated as quant/rotation.hpp describes, written as a GGUF of the same architecture:
// every metadata and tokenizer key kept, the rotated matrices in F32 (or F16), norms of ones, an
// explicit output.weight (a tied source is untied: the folded output norm makes the head differ
// from the embedding), other tensors (biases, Q/K norms, rope_freqs) copied, plus provenance
// (quantlab.rotation.seed / .construction survive a later `quantize`, which keeps unknown keys).
// The two-step flow for a rotated quantization: rotate, then imatrix and quantize the rotated file.
#include "quantlab/formats/format.hpp"

#include <cstdint>
#include <string>

namespace quantlab::pipeline {

struct RotateGgufOptions {
  uint64_t seed = 0;
  FormatId type = FormatId::F32;  // of the rotated matrices: F32 or F16
  bool force_random = false;      // a random orthogonal Q even where a Hadamard exists
  bool fold_only = false;         // Q = I: fold the norms, rotate nothing (a baseline)
  int threads = 0;                // <= 0: all cores
};

struct RotateGgufResult {
  std::string arch;
  int64_t n_embd = 0;
  uint64_t seed = 0;
  std::string construction;  // Rotation::construction()
  bool hadamard = false;
  bool untied = false;       // the source had no output.weight
  int64_t tensors_rotated = 0, tensors_copied = 0;
  uint64_t file_size = 0;
  std::string source_sha256;
  double seconds = 0;
};

// Rotates `in_path` into `out_path` (atomic: on any error, refused input included, no file appears).
// Throws Error naming the file and tensor/field for a quantized weight, an architecture whose norms
// cannot be folded (gemma3), a type other than F32/F16, or an input that is not a GGUF file.
RotateGgufResult rotate_gguf(const std::string& in_path, const std::string& out_path, const RotateGgufOptions& o);

}  // namespace quantlab::pipeline
