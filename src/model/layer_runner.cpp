#include "quantlab/model/layer_runner.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/phase_times.hpp"
#include "src/model/decoder_block.hpp"

#include <algorithm>
#include <string>

namespace quantlab {

// One pass of a layer over the batch: which sublayers run, and what the tap shows the hook.
struct LayerRunner::Pass {
  bool attention = true;
  bool ffn = true;
  bool stop = false;            // observe `stop_at` and end the pass there
  LinearInput stop_at = LinearInput::AttnQKV;
  bool observe_all = false;     // observe every stage's input and go on
  // Keeps the attention's result (the output projection's input) of every token on the device /
  // starts from the kept one instead of computing it again (runner's keep_attention_on_device).
  bool keep_attention = false;
  bool reuse_attention = false;
};

LayerRunner::LayerRunner(const ModelConfig& config, ThreadPool& pool, const Device& device)
    : config_(config), pool_(pool), backend_(make_backend(device, pool)),
      block_(std::make_unique<detail::DecoderBlock>(*backend_, config)) {}

LayerRunner::~LayerRunner() = default;

SampleBatch LayerRunner::embed(const Model& model, const std::vector<std::vector<int32_t>>& samples) {
  SampleBatch b;
  b.offsets.push_back(0);
  std::vector<int32_t> ids;
  for (const auto& s : samples) {
    if (s.empty()) throw Error("layer_runner", "samples", "a sample has no tokens");
    b.offsets.push_back(b.offsets.back() + int64_t(s.size()));
    for (int32_t id : s) {
      if (id < 0 || id >= config_.n_vocab)
        throw Error("layer_runner", "token", "id " + std::to_string(id) + " outside the vocabulary");
      ids.push_back(id);
    }
  }
  // Hidden states live in host memory whatever the backend: the embedding is the CPU backend's.
  b.hidden.resize(size_t(b.n_tokens() * config_.n_embd));
  Tensor hidden = host_tensor(FormatId::F32, b.hidden.data(), b.n_tokens(), config_.n_embd);
  const auto cpu = make_cpu_backend(pool_);
  cpu->embed(model.token_embd, ids, config_.embd_scale, hidden);
  return b;
}

std::vector<std::pair<int64_t, int64_t>> LayerRunner::micro_batches(const SampleBatch& batch) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t n_samples = batch.n_samples();
  for (int64_t s = 0; s < n_samples;) {
    int64_t e = s + 1;
    if (micro_batch_tokens_ <= 0) {
      e = n_samples;
    } else {
      while (e < n_samples && batch.offsets[size_t(e + 1)] - batch.offsets[size_t(s)] <= micro_batch_tokens_) ++e;
    }
    out.emplace_back(s, e);
    s = e;
  }
  return out;
}

void LayerRunner::prepare_cache(const SampleBatch& batch) {
  int64_t longest = 0;
  for (int64_t s = 0; s < batch.n_samples(); ++s) longest = std::max(longest, batch.sample_length(s));
  if (!cache_ || cache_->capacity() < longest)
    cache_ = backend_->make_kv_cache(1, longest, config_.n_head_kv * config_.head_dim, KvStorage::Exact);
}

Tensor& LayerRunner::resident_hidden(const SampleBatch& batch) {
  if (resident_of_ != &batch || resident_hidden_.rows != batch.n_tokens()) {
    resident_hidden_ = {};  // the old batch's rows go first
    resident_hidden_ = backend_->alloc(FormatId::F32, batch.n_tokens(), config_.n_embd);
    backend_->from_host(batch.hidden.data(), resident_hidden_);
    resident_of_ = &batch;
    host_stale_ = false;
  }
  return resident_hidden_;
}

Tensor& LayerRunner::kept_attention(const SampleBatch& batch) {
  const int64_t q_dim = config_.n_head * config_.head_dim;
  if (kept_attention_.rows != batch.n_tokens() || kept_attention_.cols != q_dim) {
    kept_attention_ = {};
    kept_attention_ = backend_->alloc(FormatId::F32, batch.n_tokens(), q_dim);
  }
  return kept_attention_;
}

void LayerRunner::sync_to_host(SampleBatch& batch) {
  if (resident_of_ != &batch || !host_stale_) return;
  backend_->to_host(resident_hidden_, batch.hidden.data());
  host_stale_ = false;
}

void LayerRunner::run_pass(int layer, const detail::LayerTensors& w, const SampleBatch& batch, const Pass& pass,
                           LayerHook* hook, float* hidden_out) {
  const PhaseScope phase("calibration pass");
  Backend& be = *backend_;
  const bool on_host = be.device().is_cpu();
  const bool resident = resident_ && !on_host;
  const int64_t E = config_.n_embd;
  std::vector<float> copy;  // a pass that must leave the batch as it was runs on a copy
  std::vector<detail::BlockSequence> sequences;
  for (const auto& [s0, s1] : micro_batches(batch)) {
    const int64_t t0 = batch.offsets[size_t(s0)], n = batch.offsets[size_t(s1)] - t0;
    const float* rows = batch.hidden.data() + t0 * E;
    float* out = hidden_out ? hidden_out + t0 * E : nullptr;
    Tensor x;
    if (on_host) {
      if (!out && !pass.stop) {  // a pass that stops never gets to a residual add
        copy.assign(rows, rows + n * E);
        rows = copy.data();
      }
      x = host_tensor(FormatId::F32, rows, n, E);  // in place when `out` is these rows
    } else if (resident) {
      Tensor kept = resident_hidden(batch).row_range(t0, n);
      if (out) {
        x = kept;  // advanced in place
      } else {     // a pass that must leave the batch as it was
        if (x_.empty() || x_.rows < n) x_ = be.alloc(FormatId::F32, n, E);
        x = x_.row_range(0, n);
        be.copy(kept, x);
      }
    } else {
      if (x_.empty() || x_.rows < n) x_ = be.alloc(FormatId::F32, n, E);
      x = x_.row_range(0, n);
      be.from_host(rows, x);
    }
    sequences.clear();
    for (int64_t s = s0; s < s1; ++s)
      sequences.push_back({batch.offsets[size_t(s)] - t0, batch.sample_length(s), cache_.get(), 0, 0});

    const detail::BlockTap tap = [&](LinearInput which, const Tensor& a) {
      if (pass.keep_attention && which == LinearInput::AttnOutput) {
        Tensor rows_kept = kept_attention(batch).row_range(t0, a.rows);
        be.copy(a, rows_kept);
      }
      const bool stop_here = pass.stop && which == pass.stop_at;
      if (!hook || !(stop_here || pass.observe_all)) return detail::TapAction::Continue;
      const PhaseScope observing("calibration pass.observe");
      if (on_host || !hook->observe_on(be, layer, which, a, t0))
        hook->observe(layer, which, detail::host_values(be, a, observed_), t0, a.rows, a.cols);
      return stop_here ? detail::TapAction::Stop : detail::TapAction::Continue;
    };
    bool go_on = true;
    if (pass.reuse_attention) block_->attention_output(w, kept_attention(batch).row_range(t0, n), x);
    else if (pass.attention) go_on = block_->attention(layer, w, x, sequences, tap);
    if (go_on && pass.ffn) block_->ffn(layer, w, x, tap);
    if (!on_host && out) {
      if (resident) host_stale_ = true;
      else be.to_host(x, out);
    }
  }
}

void LayerRunner::run_layer(int layer, const LayerWeights& weights, SampleBatch& batch) {
  prepare_cache(batch);
  run_pass(layer, detail::place_layer(*backend_, weights), batch, Pass{}, nullptr, batch.hidden.data());
}

void LayerRunner::observe_layer(int layer, const LayerWeights& weights, const SampleBatch& batch, LayerHook& hook) {
  prepare_cache(batch);
  Pass pass;
  pass.observe_all = true;
  run_pass(layer, detail::place_layer(*backend_, weights), batch, pass, &hook, nullptr);
}

void LayerRunner::run_layer(int layer, LayerWeights& weights, SampleBatch& batch, LayerHook* hook) {
  if (!hook) return run_layer(layer, static_cast<const LayerWeights&>(weights), batch);
  prepare_cache(batch);
  auto stop_at = [](LinearInput which, bool attention) {
    Pass p;
    p.attention = attention;
    p.ffn = !attention;
    p.stop = true;
    p.stop_at = which;
    return p;
  };
  // Each stage observes its input with the weights final so far, then may replace its own weights
  // (placed on the device again once they have changed). A pass that stops leaves the hidden
  // states as they were.
  detail::LayerTensors w = detail::place_layer(*backend_, weights);
  const auto stage_done = [&](LinearInput which) {
    {
      const PhaseScope phase("stage done");
      hook->stage_done(layer, which, weights);
    }
    const PhaseScope phase("place layer");
    detail::replace_consumers(*backend_, which, weights, w);
  };
  run_pass(layer, w, batch, stop_at(LinearInput::AttnQKV, true), hook, nullptr);
  stage_done(LinearInput::AttnQKV);
  // The attention with the final Q/K/V: computed once when it is kept (the output projection's
  // stage changes only what comes after it), else again in the next pass.
  const bool keep = keep_attention_ && resident_ && !backend_->device().is_cpu();
  Pass attention = stop_at(LinearInput::AttnOutput, true);
  attention.keep_attention = keep;
  run_pass(layer, w, batch, attention, hook, nullptr);
  stage_done(LinearInput::AttnOutput);
  // The residual through the final attention, then the FFN's input.
  Pass residual = stop_at(LinearInput::FfnGateUp, false);
  residual.attention = true;
  residual.reuse_attention = keep;
  run_pass(layer, w, batch, residual, hook, batch.hidden.data());
  stage_done(LinearInput::FfnGateUp);
  run_pass(layer, w, batch, stop_at(LinearInput::FfnDown, false), hook, nullptr);
  stage_done(LinearInput::FfnDown);
  Pass ffn;
  ffn.attention = false;
  run_pass(layer, w, batch, ffn, nullptr, batch.hidden.data());
}

void LayerRunner::logits(const Model& model, const SampleBatch& batch, int64_t s, std::vector<float>& out, int64_t first) {
  Backend& be = *backend_;
  const int64_t E = config_.n_embd;
  if (first < 0 || first > batch.sample_length(s)) throw Error("logits", "first", "outside the sample");
  const int64_t begin = batch.offsets[size_t(s)] + first, len = batch.sample_length(s) - first;
  // Placed once per model (on a GPU that is an upload of the output matrix), not once per sample.
  if (!head_ || head_model_ != &model || head_output_ != model.output.data) {
    head_ = std::make_unique<detail::HeadTensors>(detail::place_head(be, model));
    head_model_ = &model;
    head_output_ = model.output.data;
  }
  const detail::HeadTensors& head = *head_;
  out.resize(size_t(len * config_.n_vocab));
  const float* rows = batch.hidden.data() + begin * E;
  if (be.device().is_cpu()) {
    Tensor logits = host_tensor(FormatId::F32, out.data(), len, config_.n_vocab);
    block_->logits(head, host_tensor(FormatId::F32, rows, len, E), logits);
    return;
  }
  Tensor x = be.alloc(FormatId::F32, len, E), logits = be.alloc(FormatId::F32, len, config_.n_vocab);
  if (resident_) be.copy(resident_hidden(batch).row_range(begin, len), x);
  else be.from_host(rows, x);
  block_->logits(head, x, logits);
  be.to_host(logits, out.data());
}

}  // namespace quantlab
