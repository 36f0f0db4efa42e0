#pragma once
// The decoder block of every supported architecture, written once against the Backend interface
// (DESIGN.md "one forward pass, used by everything"). llama, qwen2 (QKV bias), qwen3 (Q/K norms)
// and gemma3 (scaled embeddings, Q/K norms, sandwich norms, GELU, sliding-window layers with their
// own RoPE) differ only by switches of ModelConfig, read here and nowhere else. Generation,
// evaluation, benchmarks (Session) and layer-sequential calibration (LayerRunner) all drive this
// one definition; calibration and importance matrices observe the inputs of the linears through a
// tap, never through a copy of the block.
#include "quantlab/backend/backend.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace quantlab::detail {

// A decoder layer's weights placed on a backend's device (on the CPU: views, no copy). Absent
// optional weights (biases, Q/K norms, post-norms) are empty tensors.
struct LayerTensors {
  Tensor attn_norm, wq, wk, wv, wo, q_bias, k_bias, v_bias, q_norm, k_norm, attn_post_norm;
  Tensor ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_post_norm;
};
LayerTensors place_layer(Backend& backend, const LayerWeights& w);
// Places again the matrices that consume `which` (after a calibration stage replaced them), each
// old copy freed before its new one is placed.
void replace_consumers(Backend& backend, LinearInput which, const LayerWeights& w, LayerTensors& placed);

// The embedding, final norm and output projection placed for a backend. The embedding table stays
// in host memory when the backend reads it from there (only the rows of the tokens are needed).
struct HeadTensors {
  Tensor token_embd, output_norm, output;
};
HeadTensors place_head(Backend& backend, const Model& model);

// Rows [first_row, first_row + n_rows) of a batch are one sequence at positions first_pos.. of
// layer `cache_layer` of `cache`; it attends to itself and to what the cache holds before it.
struct BlockSequence {
  int64_t first_row = 0;
  int64_t n_rows = 0;
  KvCache* cache = nullptr;
  int64_t cache_layer = 0;
  int64_t first_pos = 0;
};

// Shown the input of each group of linears (rows of the call, on the backend's device) before the
// linears run; Stop ends the sublayer there and leaves its input x unchanged.
enum class TapAction { Continue, Stop };
using BlockTap = std::function<TapAction(LinearInput which, const Tensor& x)>;

// The values of f32 tensor `t` in host memory, for observers that read host arrays: `t`'s own bytes
// on the CPU, else a copy in `scratch` (valid until its next use).
const float* host_values(Backend& backend, const Tensor& t, std::vector<float>& scratch);

class DecoderBlock {
 public:
  DecoderBlock(Backend& backend, const ModelConfig& config);

  // x = scale * embedding(ids): [ids][n_embd].
  void embed(const HeadTensors& head, std::span<const int32_t> ids, Tensor& x);
  // x += attention sublayer of `layer` (norm, Q/K/V, Q/K norms, RoPE, attention over each
  // sequence's cache, output projection, post-norm). Returns false if the tap stopped it.
  bool attention(int64_t layer, const LayerTensors& w, Tensor& x, std::span<const BlockSequence> sequences,
                 const BlockTap& tap = {});
  // x += output projection of `attn` (the attention's result for x's rows), post-normed: the end of
  // `attention`, for a caller that kept attn from an earlier pass through the same Q/K/V.
  void attention_output(const LayerTensors& w, const Tensor& attn, Tensor& x);
  // x += FFN sublayer of `layer` (norm, gate/up, activation, down, post-norm).
  bool ffn(int64_t layer, const LayerTensors& w, Tensor& x, const BlockTap& tap = {});
  // logits = output(norm(x)) (soft-capped where the model says so): [x.rows][n_vocab].
  void logits(const HeadTensors& head, const Tensor& x, Tensor& logits, const BlockTap& tap = {});

  Backend& backend() { return be_; }

 private:
  // An f32 scratch tensor of rows x cols that keeps its storage between calls.
  Tensor scratch(Tensor& buffer, int64_t rows, int64_t cols);

  Backend& be_;
  const ModelConfig& c_;
  Tensor xn_, q_, k_, v_, attn_, gate_, up_;
  std::vector<int32_t> positions_;
};

}  // namespace quantlab::detail
