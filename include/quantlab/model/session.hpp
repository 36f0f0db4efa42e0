#pragma once
// Per-run state of a model: KV cache, positions and scratch buffers. One Session runs one sequence;
// forward() appends tokens to it (batched prefill or one-token decode, same code and same bits).
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace quantlab {

class Session {
 public:
  // n_ctx: KV cache capacity in tokens (0: the model's training context, capped at 4096).
  Session(const Model& model, ThreadPool& pool, int64_t n_ctx = 0);

  // Runs `tokens` at positions position() ... position()+size-1 and returns the logits of the
  // tokens from index `first_output` on: [(size - first_output)][n_vocab]. The span stays valid
  // until the next call. Throws if the cache would overflow or a token id is out of range.
  std::span<const float> forward(std::span<const int32_t> tokens, int64_t first_output);
  // Logits of the last token only.
  std::span<const float> forward_last(std::span<const int32_t> tokens) {
    return forward(tokens, int64_t(tokens.size()) - 1);
  }

  int64_t position() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  // Forgets everything from `position` on (0: a fresh sequence).
  void rewind(int64_t position = 0);
  void set_observer(ActivationObserver* observer) { observer_ = observer; }
  const Model& model() const { return model_; }
  ThreadPool& pool() { return pool_; }

 private:
  void forward_batch(const int32_t* tokens, int64_t n, int64_t first_output, float* logits_out);
  void linear(const WeightMatrix& w, const float* x, int64_t n, float* y);

  const Model& model_;
  ThreadPool& pool_;
  ActivationObserver* observer_ = nullptr;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  std::vector<float> k_cache_;  // [layer][n_head_kv*head_dim][n_ctx]: keys transposed (see attention())
  std::vector<float> v_cache_;  // [layer][position][n_head_kv*head_dim]
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, out_norm_, logits_;
  std::vector<float> rope_cos_[2], rope_sin_[2];  // [0] global layers, [1] sliding-window layers
};

}  // namespace quantlab
