#include "quantlab/model/session.hpp"
#include "quantlab/core/error.hpp"
#include "src/model/decoder_block.hpp"

#include <algorithm>
#include <string>

namespace quantlab {
namespace {

// Tokens processed per pass inside one forward() call: bounds scratch memory for long inputs
// (llama.cpp's default micro-batch is the same size).
constexpr int64_t kMicroBatch = 512;

}  // namespace

std::vector<std::string> linear_input_tensors(int layer, LinearInput which) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  switch (which) {
    case LinearInput::AttnQKV: return {b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"};
    case LinearInput::AttnOutput: return {b + "attn_output.weight"};
    case LinearInput::FfnGateUp: return {b + "ffn_gate.weight", b + "ffn_up.weight"};
    case LinearInput::FfnDown: return {b + "ffn_down.weight"};
    case LinearInput::Output: return {"output.weight"};
  }
  return {};
}

Session::Session(const Model& model, ThreadPool& pool, int64_t n_ctx, const Device& device, KvStorage kv_storage)
    : model_(model), pool_(pool), backend_(make_backend(device, pool)) {
  const auto& c = model.config;
  if (n_ctx <= 0) n_ctx = c.n_ctx_train > 0 ? std::min<int64_t>(c.n_ctx_train, 4096) : 4096;
  n_ctx_ = n_ctx;
  block_ = std::make_unique<detail::DecoderBlock>(*backend_, c);
  layers_.reserve(model.layers.size());
  for (const LayerWeights& w : model.layers) layers_.push_back(detail::place_layer(*backend_, w));
  head_ = std::make_unique<detail::HeadTensors>(detail::place_head(*backend_, model));
  cache_ = backend_->make_kv_cache(c.n_layer, n_ctx, c.n_head_kv * c.head_dim, kv_storage);
}

Session::~Session() = default;

void Session::rewind(int64_t position) {
  if (position < 0 || position > n_past_)
    throw Error("session", "position", "cannot rewind to " + std::to_string(position) + " (at " + std::to_string(n_past_) + ")");
  n_past_ = position;
}

std::span<const float> Session::forward(std::span<const int32_t> tokens, int64_t first_output) {
  const auto& c = model_.config;
  const int64_t n = int64_t(tokens.size());
  if (n == 0) throw Error("session", "tokens", "no tokens to run");
  if (first_output < 0 || first_output > n) throw Error("session", "first_output", "out of range");
  if (n_past_ + n > n_ctx_)
    throw Error("session", "n_ctx", "context overflow: " + std::to_string(n_past_) + " + " + std::to_string(n) +
                                        " tokens exceed the cache of " + std::to_string(n_ctx_));
  for (int64_t i = 0; i < n; ++i)
    if (tokens[size_t(i)] < 0 || tokens[size_t(i)] >= c.n_vocab)
      throw Error("session", "token " + std::to_string(i),
                  "id " + std::to_string(tokens[size_t(i)]) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  logits_.resize(size_t(n - first_output) * size_t(c.n_vocab));
  for (int64_t b0 = 0; b0 < n; b0 += kMicroBatch) {
    const int64_t m = std::min(kMicroBatch, n - b0);
    const int64_t fo = std::clamp<int64_t>(first_output - b0, 0, m);
    float* out = fo < m ? logits_.data() + size_t(b0 + fo - first_output) * size_t(c.n_vocab) : nullptr;
    forward_batch(tokens.data() + b0, m, fo, out);
  }
  return {logits_.data(), logits_.size()};
}

void Session::forward_batch(const int32_t* tokens, int64_t n, int64_t first_output, float* logits_out) {
  const auto& c = model_.config;
  Backend& be = *backend_;
  if (x_.empty() || x_.rows < n) x_ = be.alloc(FormatId::F32, kMicroBatch, c.n_embd);
  Tensor x = x_.row_range(0, n);
  block_->embed(*head_, {tokens, size_t(n)}, x);

  // The observer sees host memory (on a GPU the tapped activations are copied back first) unless it
  // takes them on the device.
  int64_t layer = 0;
  detail::BlockTap tap;
  if (observer_) {
    tap = [&](LinearInput which, const Tensor& a) {
      const int l = which == LinearInput::Output ? -1 : int(layer);
      if (be.device().is_cpu() || !observer_->on_linear_input_on(be, l, which, a))
        observer_->on_linear_input(l, which, detail::host_values(be, a, observed_), a.rows, a.cols);
      return detail::TapAction::Continue;
    };
  }
  // Logits go straight to the caller's memory on the CPU, through a device buffer elsewhere.
  const int64_t n_out = n - first_output;
  const bool on_cpu = be.device().is_cpu();
  if (!on_cpu && n_out > 0 && (logits_dev_.empty() || logits_dev_.rows < n_out))
    logits_dev_ = be.alloc(FormatId::F32, kMicroBatch, c.n_vocab);
  Tensor logits = n_out <= 0 ? Tensor{}
                  : on_cpu   ? host_tensor(FormatId::F32, logits_out, n_out, c.n_vocab)
                             : logits_dev_.row_range(0, n_out);
  const detail::BlockSequence seq{0, n, cache_.get(), 0, n_past_};
  auto layers_and_logits = [&] {
    for (layer = 0; layer < c.n_layer; ++layer) {
      detail::BlockSequence s = seq;
      s.cache_layer = layer;
      block_->attention(layer, layers_[size_t(layer)], x, {&s, 1}, tap);
      block_->ffn(layer, layers_[size_t(layer)], x, tap);
    }
    if (n_out > 0) block_->logits(*head_, x.row_range(first_output, n_out), logits, tap);
  };
  // A one-token step is recorded once and replayed (a CUDA graph) where the backend records:
  // the same buffers serve every step, and the recording follows the position.
  const bool decode_step = n == 1 && n_out == 1 && !observer_ && !on_cpu;
  if (!decode_step) layers_and_logits();
  else if (!(step_graph_ && step_graph_->replay(n_past_))) {
    if (records_steps_) {
      step_graph_ = be.run_and_record(n_past_, layers_and_logits);
      records_steps_ = step_graph_ != nullptr;
    } else {
      layers_and_logits();
    }
  }
  n_past_ += n;
  if (!on_cpu && n_out > 0) be.to_host(logits, logits_out);
}

}  // namespace quantlab
