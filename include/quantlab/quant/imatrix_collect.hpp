#pragma once
// Importance-matrix collection as llama.cpp's llama-imatrix does it: the token stream is cut into
// chunks of n_ctx tokens, the first token of each chunk replaced by BOS (when the model adds one),
// each chunk run from an empty cache, and every token's input to every blk.* linear added to
// Σx² of that weight's columns (matmuls over fewer than 16 tokens are skipped, as there).
#include "quantlab/backend/device.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace quantlab {

struct ImatrixOptions {
  int64_t n_ctx = 512;
  int64_t n_chunks = -1;        // -1: all whole chunks of the text
  bool add_bos = true;
  int32_t bos_id = -1;
  bool process_output = false;  // also collect output.weight (untied models only, as llama.cpp)
  int threads = 0;
  Device device{};              // where the model runs (on a GPU the sums stay there until the end)
  // On a GPU: products of f32 weights and activations on TF32 tensor cores (Backend::allow_tf32),
  // ~8x faster; inputs rounded to 10-bit mantissas move the sums by ~1e-3 relative. false: exact
  // f32 products, sums within 1e-5 of the CPU's.
  bool tf32 = false;
};

// Called after each chunk with (chunks done, chunks total).
using ImatrixProgress = std::function<void(int64_t, int64_t)>;

// Throws Error if the text holds fewer than one chunk (llama.cpp asks for two).
Imatrix collect_imatrix(const Model& model, std::span<const int32_t> tokens, const ImatrixOptions& o,
                        const ImatrixProgress& progress = {});

// The same statistics over calibration sequences already packed by calib::pack (any packing
// strategy): each sequence runs alone from an empty cache, exactly as given (BOS and template are
// the packing's business), and every token of it counts, however short the sequence (the 16-token
// rule above exists to skip llama.cpp's single-token decode steps, which never happen here).
// o.n_ctx and o.n_chunks are ignored; chunk_count becomes the number of sequences and chunk_size
// the longest one. Throws Error if `sequences` is empty.
Imatrix collect_imatrix(const Model& model, const std::vector<std::vector<int32_t>>& sequences, const ImatrixOptions& o,
                        const ImatrixProgress& progress = {});

}  // namespace quantlab
