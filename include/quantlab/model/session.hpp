#pragma once
// Per-run state of a model: KV cache, positions and scratch buffers. One Session runs one sequence;
// forward() appends tokens to it (batched prefill or one-token decode, same code and same bits).
// It runs on any backend (the CPU by default): the model's weights are placed on the backend's
// device once, when the session starts.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace quantlab {

namespace detail {
class DecoderBlock;
struct LayerTensors;
struct HeadTensors;
}  // namespace detail

class Session {
 public:
  // n_ctx: KV cache capacity in tokens (0: the model's training context, capped at 4096).
  // `device`: where it runs (the CPU backend over `pool`, or a GPU). `kv_storage`: the cache's
  // values as the backend prefers, or exactly (calibration statistics; see KvStorage).
  Session(const Model& model, ThreadPool& pool, int64_t n_ctx = 0, const Device& device = Device{},
          KvStorage kv_storage = KvStorage::Compact);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

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
  Backend& backend() { return *backend_; }

 private:
  void forward_batch(const int32_t* tokens, int64_t n, int64_t first_output, float* logits_out);

  const Model& model_;
  ThreadPool& pool_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<detail::DecoderBlock> block_;
  std::vector<detail::LayerTensors> layers_;
  std::unique_ptr<detail::HeadTensors> head_;
  std::unique_ptr<KvCache> cache_;
  ActivationObserver* observer_ = nullptr;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  Tensor x_, logits_dev_;
  std::vector<float> logits_, observed_;
  // The recorded one-token step (GPU backends), and whether the backend records at all.
  std::unique_ptr<StepGraph> step_graph_;
  bool records_steps_ = true;
};

}  // namespace quantlab
