#pragma once
// Layer-by-layer execution of a model over a batch of independent samples: the engine of
// layer-sequential calibration (DESIGN.md). Hidden states of every sample live side by side
// ([total tokens][n_embd]); each sample attends only to itself, from position 0 (per-sample
// packing: attention never crosses a sample boundary). The weights of a layer are passed in, so a
// caller can run the original layer, or a quantized copy of it, on the same inputs.
//
// It drives the same block definition as Session::forward (src/model/decoder_block.hpp): a model
// run layer by layer on one sample gives bit-identical logits.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace quantlab {

struct SampleBatch {
  std::vector<int64_t> offsets;  // sample s owns tokens [offsets[s], offsets[s+1])
  std::vector<float> hidden;     // [offsets.back()][n_embd]
  int64_t n_samples() const { return int64_t(offsets.size()) - 1; }
  int64_t n_tokens() const { return offsets.empty() ? 0 : offsets.back(); }
  int64_t sample_length(int64_t s) const { return offsets[size_t(s + 1)] - offsets[size_t(s)]; }
};

// Sees the input of each group of linears (QKV, attention output, gate/up, down), micro-batch by
// micro-batch, and may replace a group's weights once all of its input has been seen.
//
// Calibration runs in micro-batches of whole samples (a token budget, LayerRunner::set_micro_batch)
// so that a layer's intermediates (gate/up: tokens x n_ff floats each) exist for one micro-batch
// only. Results never depend on the micro-batch size: every op is per token, the matmul's numerics
// do not depend on the number of tokens, and hooks accumulate in token order.
class LayerHook {
 public:
  virtual ~LayerHook() = default;
  // x: [n_tokens][n_features], the batch's tokens [first_token, first_token + n_tokens) (whole
  // samples); micro-batches of one stage arrive in token order.
  virtual void observe(int layer, LinearInput which, const float* x, int64_t first_token, int64_t n_tokens,
                       int64_t n_features) = 0;
  // The same input where the runner computed it, on a GPU backend's device. A hook that uses it
  // there (GPTQ's Hessian sums) returns true and `observe` is not called for it: the activations
  // are not copied to the host. The default declines.
  virtual bool observe_on(Backend& /*backend*/, int /*layer*/, LinearInput /*which*/, const Tensor& /*x*/,
                          int64_t /*first_token*/) {
    return false;
  }
  // Every token's input of `which` has been observed: the hook may change the weights that consume
  // it (quantize them), and only those (the runner places only them again); the next stage's inputs
  // are computed with the new weights.
  virtual void stage_done(int /*layer*/, LinearInput /*which*/, LayerWeights& /*weights*/) {}
};

namespace detail {
class DecoderBlock;
struct HeadTensors;
struct LayerTensors;
}  // namespace detail

class LayerRunner {
 public:
  // Runs on the CPU backend over `pool`, or on `device` (hidden states stay in host memory; each
  // micro-batch is copied to the device and back, unless keep_hidden_on_device).
  LayerRunner(const ModelConfig& config, ThreadPool& pool, const Device& device = Device{});
  ~LayerRunner();
  LayerRunner(const LayerRunner&) = delete;
  LayerRunner& operator=(const LayerRunner&) = delete;

  // Token budget of one micro-batch (whole samples; a longer sample is a micro-batch alone).
  // <= 0: the whole batch at once.
  void set_micro_batch(int64_t max_tokens) { micro_batch_tokens_ = max_tokens; }
  int64_t micro_batch() const { return micro_batch_tokens_; }

  // On a GPU: the batch's hidden states go to the device once and stay there between passes and
  // layers (a hooked layer runs five passes, each of which would copy them there again). The
  // batch's host copy is then stale once a layer has advanced it, until sync_to_host; the caller
  // must not change it meanwhile. Costs tokens x n_embd floats of device memory; no result changes.
  // Nothing changes on the CPU.
  void keep_hidden_on_device(bool on) { resident_ = on; }
  // With the hidden states kept on a GPU, a hooked layer may also keep its attention's result for
  // every token (tokens x n_head * head_dim floats of device memory) between the pass that observes
  // it and the one that advances the batch: each layer then computes its attention once instead of
  // twice. No result changes.
  void keep_attention_on_device(bool on) { keep_attention_ = on; }
  // Brings the hidden states kept on the device back into `batch` (a no-op when they are not kept).
  void sync_to_host(SampleBatch& batch);

  // Token embeddings of every sample (each sample's tokens are its own sequence).
  SampleBatch embed(const Model& model, const std::vector<std::vector<int32_t>>& samples);

  // Runs decoder layer `layer` with `weights` on the batch, in place. With a hook, the layer runs
  // stage by stage (true-sequential): every micro-batch's QKV input is observed, then stage_done may
  // replace QKV; the attention is computed with them and observed, then stage_done may replace the
  // output projection; then the FFN input, gate/up, down likewise; finally the batch is advanced
  // through the final weights. Each stage recomputes what it needs from the layer's input, micro-batch
  // by micro-batch, so no stage's output is kept for the whole batch.
  void run_layer(int layer, LayerWeights& weights, SampleBatch& batch, LayerHook* hook);
  // The same without a hook, for weights that stay as they are (one pass per micro-batch).
  void run_layer(int layer, const LayerWeights& weights, SampleBatch& batch);
  // One pass of the layer that only shows the hook every stage's input (stage_done is not called)
  // and leaves the batch as it was.
  void observe_layer(int layer, const LayerWeights& weights, const SampleBatch& batch, LayerHook& hook);

  // Final norm and output projection of sample `s`'s tokens from `first` on: [length - first][n_vocab]
  // into `logits` (the rows are computed alone, so a scored tail costs only its own rows).
  void logits(const Model& model, const SampleBatch& batch, int64_t s, std::vector<float>& logits, int64_t first = 0);

  // Calibration passes on a GPU may multiply f32 weights on TF32 tensor cores (Backend::allow_tf32).
  void allow_tf32(bool on) { backend_->allow_tf32(on); }
  // Waits for the runner's device to finish what was issued (a no-op on the CPU).
  void synchronize() { backend_->synchronize(); }

  // The device memory of the runner's backend (all zero on the CPU).
  DeviceMemoryUse memory_use() const { return backend_->memory_use(); }

  // Micro-batches of `batch` under the current budget: [first sample, end sample) each.
  std::vector<std::pair<int64_t, int64_t>> micro_batches(const SampleBatch& batch) const;

 private:
  // Which sublayers of one micro-batch to run, and what the tap shows.
  struct Pass;
  // A KV cache as long as the batch's longest sample (samples run one by one through it), f32 on
  // every device (KvStorage::Exact): calibration statistics must not differ by f16's rounding.
  void prepare_cache(const SampleBatch& batch);
  // Runs one pass over every micro-batch with the layer's placed weights; the new hidden states go
  // to `hidden_out` (the batch's own, to advance it) or nowhere (null: the batch is left as it was).
  void run_pass(int layer, const detail::LayerTensors& weights, const SampleBatch& batch, const Pass& pass,
                LayerHook* hook, float* hidden_out);

  const ModelConfig& config_;
  ThreadPool& pool_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<detail::DecoderBlock> block_;
  std::unique_ptr<KvCache> cache_;  // one layer, as long as the longest sample: samples run one by one
  int64_t micro_batch_tokens_ = 0;
  // The device rows of `batch`'s hidden states (uploaded on first use) when kept on the device.
  Tensor& resident_hidden(const SampleBatch& batch);

  // The attention's result for every token of `batch`, kept on the device (allocated on first use).
  Tensor& kept_attention(const SampleBatch& batch);

  Tensor x_;                        // a micro-batch's hidden states on a GPU backend
  bool resident_ = false;
  bool keep_attention_ = false;
  Tensor kept_attention_;
  Tensor resident_hidden_;                  // every token's hidden state, kept on the device
  const SampleBatch* resident_of_ = nullptr;  // the batch they are of
  bool host_stale_ = false;                 // resident_hidden_ is ahead of the batch's host copy
  std::vector<float> observed_;     // a tapped activation copied back from a GPU
  std::unique_ptr<detail::HeadTensors> head_;  // the output head placed for head_model_
  const Model* head_model_ = nullptr;
  const void* head_output_ = nullptr;
};

}  // namespace quantlab
