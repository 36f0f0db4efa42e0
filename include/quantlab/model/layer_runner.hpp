#pragma once
// Layer-by-layer execution of a model over a batch of independent samples: the engine of
// layer-sequential calibration (DESIGN.md). Hidden states of every sample live side by side
// ([total tokens][n_embd]); each sample attends only to itself, from position 0 (per-sample
// packing: attention never crosses a sample boundary). The weights of a layer are passed in, so a
// caller can run the original layer, or a quantized copy of it, on the same inputs.
//
// Numerics are those of Session::forward (same ops, same order): a model run layer by layer on one
// sample gives bit-identical logits.
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

struct SampleBatch {
  std::vector<int64_t> offsets;  // sample s owns tokens [offsets[s], offsets[s+1])
  std::vector<float> hidden;     // [offsets.back()][n_embd]
  int64_t n_samples() const { return int64_t(offsets.size()) - 1; }
  int64_t n_tokens() const { return offsets.empty() ? 0 : offsets.back(); }
  int64_t sample_length(int64_t s) const { return offsets[size_t(s + 1)] - offsets[size_t(s)]; }
};

// Called before the linears that consume `x` run, with the layer's weights: a hook may record x,
// change the weights (quantize them), or rescale x together with the weights (AWQ). x is the whole
// batch's input of that stage: [n_tokens][n_features].
class LayerHook {
 public:
  virtual ~LayerHook() = default;
  virtual void before_linears(int layer, LinearInput which, float* x, int64_t n_tokens, int64_t n_features,
                              LayerWeights& weights) = 0;
};

class LayerRunner {
 public:
  LayerRunner(const ModelConfig& config, ThreadPool& pool);

  // Token embeddings of every sample (each sample's tokens are its own sequence).
  SampleBatch embed(const Model& model, const std::vector<std::vector<int32_t>>& samples) const;

  // Runs decoder layer `layer` with `weights` on the batch, in place. `hook` (may be null) sees
  // the input of each group of linears (QKV, output, gate/up, down) in that order.
  void run_layer(int layer, LayerWeights& weights, SampleBatch& batch, LayerHook* hook = nullptr);
  // The same without a hook, for weights that stay as they are.
  void run_layer(int layer, const LayerWeights& weights, SampleBatch& batch);

  // Final norm and output projection of sample `s`: [length][n_vocab] into `logits`.
  void logits(const Model& model, const SampleBatch& batch, int64_t s, std::vector<float>& logits) const;

 private:
  const ModelConfig& config_;
  ThreadPool& pool_;
  std::vector<float> xn_, q_, k_, v_, attn_, gate_, up_;
  std::vector<float> rope_cos_[2], rope_sin_[2];  // angles by position: [0] global, [1] sliding-window layers
  std::vector<float> keys_t_;  // one sample's keys, transposed per head for attention()
};

}  // namespace quantlab
