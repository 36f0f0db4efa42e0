#include "quantlab/model/layer_runner.hpp"
#include "src/model/block_ops.hpp"
#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {
namespace {

void add_bias(float* y, const std::vector<float>& bias, int64_t n_tokens) {
  if (bias.empty()) return;
  const int64_t m = int64_t(bias.size());
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t i = 0; i < m; ++i) y[t * m + i] += bias[size_t(i)];
}

}  // namespace

LayerRunner::LayerRunner(const ModelConfig& config, ThreadPool& pool) : config_(config), pool_(pool) {}

SampleBatch LayerRunner::embed(const Model& model, const std::vector<std::vector<int32_t>>& samples) const {
  const int64_t E = config_.n_embd;
  SampleBatch b;
  b.offsets.push_back(0);
  for (const auto& s : samples) {
    if (s.empty()) throw Error("layer_runner", "samples", "a sample has no tokens");
    b.offsets.push_back(b.offsets.back() + int64_t(s.size()));
  }
  b.hidden.resize(size_t(b.n_tokens() * E));
  int64_t t = 0;
  for (const auto& s : samples)
    for (int32_t id : s) {
      if (id < 0 || id >= config_.n_vocab)
        throw Error("layer_runner", "token", "id " + std::to_string(id) + " outside the vocabulary");
      float* xt = b.hidden.data() + t * E;
      row_to_f32(model.token_embd.format, model.token_embd.row(id), xt, E);
      if (config_.embd_scale != 1.0f)
        for (int64_t i = 0; i < E; ++i) xt[i] *= config_.embd_scale;
      ++t;
    }
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

void LayerRunner::prepare(int layer, const SampleBatch& batch, int64_t max_tokens) {
  const auto& c = config_;
  const int64_t E = c.n_embd, hd = c.head_dim, F = c.n_ff;
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  const int64_t n = max_tokens;
  xn_.resize(size_t(n * std::max(E, q_dim)));
  q_.resize(size_t(n * q_dim));
  k_.resize(size_t(n * kv_dim));
  v_.resize(size_t(n * kv_dim));
  gate_.resize(size_t(n * F));
  up_.resize(size_t(n * F));
  // The angle table of this layer's RoPE ([0] global, [1] sliding-window layers: another base).
  const RopeParams rope = c.rope(layer);
  const int kind = c.is_swa(layer) ? 1 : 0;
  std::vector<float>& rope_cos = rope_cos_[kind];
  std::vector<float>& rope_sin = rope_sin_[kind];
  const int64_t half = c.n_rot / 2;
  int64_t longest = 0;
  for (int64_t s = 0; s < batch.n_samples(); ++s) longest = std::max(longest, batch.sample_length(s));
  if (int64_t(rope_cos.size()) < longest * half) {
    rope_cos.resize(size_t(longest * half));
    rope_sin.resize(size_t(longest * half));
    for (int64_t p = 0; p < longest; ++p) rope_angles(rope, p, rope_cos.data() + p * half, rope_sin.data() + p * half);
  }
}

void LayerRunner::attention_block(int layer, const LayerWeights& L, const SampleBatch& batch, int64_t s0, int64_t s1,
                                  float* out) {
  const auto& c = config_;
  const int64_t H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim;
  const int64_t q_dim = H * hd, kv_dim = Hkv * hd;
  const int64_t base = batch.offsets[size_t(s0)], n = batch.offsets[size_t(s1)] - base;
  const RopeParams rope = c.rope(layer);
  const int kind = c.is_swa(layer) ? 1 : 0;
  const std::vector<float>& rope_cos = rope_cos_[kind];
  const std::vector<float>& rope_sin = rope_sin_[kind];
  const int64_t half = c.n_rot / 2;
  const AttentionShape shape = detail::attention_shape(c, layer);
  const float* xn = xn_.data();
  matmul(pool_, L.wq, xn, n, q_.data());
  matmul(pool_, L.wk, xn, n, k_.data());
  matmul(pool_, L.wv, xn, n, v_.data());
  add_bias(q_.data(), L.q_bias, n);
  add_bias(k_.data(), L.k_bias, n);
  add_bias(v_.data(), L.v_bias, n);
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t begin = batch.offsets[size_t(s)] - base, len = batch.sample_length(s);
    for (int64_t p = 0; p < len; ++p) {
      float* qt = q_.data() + (begin + p) * q_dim;
      float* kt = k_.data() + (begin + p) * kv_dim;
      if (!L.q_norm.empty())
        for (int64_t h = 0; h < H; ++h) rms_norm(qt + h * hd, L.q_norm.data(), qt + h * hd, hd, c.rms_eps);
      if (!L.k_norm.empty())
        for (int64_t h = 0; h < Hkv; ++h) rms_norm(kt + h * hd, L.k_norm.data(), kt + h * hd, hd, c.rms_eps);
      rope_apply(rope, rope_cos.data() + p * half, rope_sin.data() + p * half, qt, H, hd);
      rope_apply(rope, rope_cos.data() + p * half, rope_sin.data() + p * half, kt, Hkv, hd);
      if (c.attn_q_scale > 0)
        for (int64_t i = 0; i < q_dim; ++i) qt[i] *= c.attn_q_scale;
    }
    // The sample's own K/V rows are its whole cache: it starts at position 0 and sees nothing else.
    // attention() reads keys transposed per head ([n_head_kv][head_dim][positions]), as the KV cache stores them.
    keys_t_.resize(size_t(kv_dim * len));
    for (int64_t p = 0; p < len; ++p)
      for (int64_t j = 0; j < kv_dim; ++j) keys_t_[size_t(j * len + p)] = k_[size_t((begin + p) * kv_dim + j)];
    attention(pool_, shape, q_.data() + begin * q_dim, keys_t_.data(), len, v_.data() + begin * kv_dim, 0, len,
              out + begin * q_dim);
  }
}

// Gemma's RMSNorm of a block's output before the residual add (absent weights: nothing to do).
void LayerRunner::post_norm(const std::vector<float>& weight, float* y, int64_t n) const {
  if (weight.empty()) return;
  const int64_t E = config_.n_embd;
  for (int64_t t = 0; t < n; ++t) rms_norm(y + t * E, weight.data(), y + t * E, E, config_.rms_eps);
}

void LayerRunner::ffn_hidden(const LayerWeights& L, int64_t n) {
  matmul(pool_, L.ffn_gate, xn_.data(), n, gate_.data());
  matmul(pool_, L.ffn_up, xn_.data(), n, up_.data());
  detail::ffn_activation(config_, gate_.data(), up_.data(), n * config_.n_ff);
}

void LayerRunner::forward(int layer, const LayerWeights& L, const SampleBatch& batch, int64_t s0, int64_t s1, float* x,
                          LayerHook* hook) {
  const auto& c = config_;
  const int64_t E = c.n_embd, q_dim = c.n_head * c.head_dim, F = c.n_ff;
  const int64_t first = batch.offsets[size_t(s0)], n = batch.offsets[size_t(s1)] - first;
  attn_.resize(size_t(n * q_dim));
  float* xn = xn_.data();
  for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.attn_norm.data(), xn + t * E, E, c.rms_eps);
  if (hook) hook->observe(layer, LinearInput::AttnQKV, xn, first, n, E);
  attention_block(layer, L, batch, s0, s1, attn_.data());
  if (hook) hook->observe(layer, LinearInput::AttnOutput, attn_.data(), first, n, q_dim);
  matmul(pool_, L.wo, attn_.data(), n, xn);
  post_norm(L.attn_post_norm, xn, n);
  for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];
  for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
  if (hook) hook->observe(layer, LinearInput::FfnGateUp, xn, first, n, E);
  ffn_hidden(L, n);
  if (hook) hook->observe(layer, LinearInput::FfnDown, gate_.data(), first, n, F);
  matmul(pool_, L.ffn_down, gate_.data(), n, xn);
  post_norm(L.ffn_post_norm, xn, n);
  for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];
}

namespace {
int64_t largest_micro_batch(const SampleBatch& b, const std::vector<std::pair<int64_t, int64_t>>& mbs) {
  int64_t m = 0;
  for (const auto& [s0, s1] : mbs) m = std::max(m, b.offsets[size_t(s1)] - b.offsets[size_t(s0)]);
  return m;
}
}  // namespace

void LayerRunner::run_layer(int layer, const LayerWeights& L, SampleBatch& batch) {
  const auto mbs = micro_batches(batch);
  prepare(layer, batch, largest_micro_batch(batch, mbs));
  const int64_t E = config_.n_embd;
  for (const auto& [s0, s1] : mbs) forward(layer, L, batch, s0, s1, batch.hidden.data() + batch.offsets[size_t(s0)] * E, nullptr);
}

void LayerRunner::observe_layer(int layer, const LayerWeights& L, const SampleBatch& batch, LayerHook& hook) {
  const auto mbs = micro_batches(batch);
  prepare(layer, batch, largest_micro_batch(batch, mbs));
  const int64_t E = config_.n_embd;
  for (const auto& [s0, s1] : mbs) {
    const int64_t t0 = batch.offsets[size_t(s0)], t1 = batch.offsets[size_t(s1)];
    x_copy_.assign(batch.hidden.begin() + t0 * E, batch.hidden.begin() + t1 * E);
    forward(layer, L, batch, s0, s1, x_copy_.data(), &hook);
  }
  x_copy_ = {};
}

void LayerRunner::run_layer(int layer, LayerWeights& L, SampleBatch& batch, LayerHook* hook) {
  if (!hook) return run_layer(layer, static_cast<const LayerWeights&>(L), batch);
  const auto& c = config_;
  const int64_t E = c.n_embd, q_dim = c.n_head * c.head_dim, F = c.n_ff;
  const auto mbs = micro_batches(batch);
  prepare(layer, batch, largest_micro_batch(batch, mbs));
  float* hidden = batch.hidden.data();
  float* xn = xn_.data();
  auto span = [&](int64_t s0, int64_t s1) {
    const int64_t t0 = batch.offsets[size_t(s0)];
    return std::pair<int64_t, int64_t>(t0, batch.offsets[size_t(s1)] - t0);
  };
  // QKV's input.
  for (const auto& [s0, s1] : mbs) {
    const auto [t0, n] = span(s0, s1);
    for (int64_t t = 0; t < n; ++t) rms_norm(hidden + (t0 + t) * E, L.attn_norm.data(), xn + t * E, E, c.rms_eps);
    hook->observe(layer, LinearInput::AttnQKV, xn, t0, n, E);
  }
  hook->stage_done(layer, LinearInput::AttnQKV, L);
  // Attention with the final QKV. Its outputs are not kept for the whole batch (that would be a
  // second buffer the size of the calibration activations): the residual pass below recomputes
  // them, micro-batch by micro-batch, with the same weights and inputs, so the same bits.
  auto attention = [&](int64_t s0, int64_t s1, int64_t t0, int64_t n) {
    for (int64_t t = 0; t < n; ++t) rms_norm(hidden + (t0 + t) * E, L.attn_norm.data(), xn + t * E, E, c.rms_eps);
    attention_block(layer, L, batch, s0, s1, attn_.data());
  };
  attn_.resize(size_t(largest_micro_batch(batch, mbs) * q_dim));
  for (const auto& [s0, s1] : mbs) {
    const auto [t0, n] = span(s0, s1);
    attention(s0, s1, t0, n);
    hook->observe(layer, LinearInput::AttnOutput, attn_.data(), t0, n, q_dim);
  }
  hook->stage_done(layer, LinearInput::AttnOutput, L);
  // Residual with the final output projection; the FFN's input.
  for (const auto& [s0, s1] : mbs) {
    const auto [t0, n] = span(s0, s1);
    float* x = hidden + t0 * E;
    attention(s0, s1, t0, n);
    matmul(pool_, L.wo, attn_.data(), n, xn);
    post_norm(L.attn_post_norm, xn, n);
    for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];
    for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
    hook->observe(layer, LinearInput::FfnGateUp, xn, t0, n, E);
  }
  hook->stage_done(layer, LinearInput::FfnGateUp, L);
  // Down's input from the final gate/up.
  for (const auto& [s0, s1] : mbs) {
    const auto [t0, n] = span(s0, s1);
    for (int64_t t = 0; t < n; ++t) rms_norm(hidden + (t0 + t) * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
    ffn_hidden(L, n);
    hook->observe(layer, LinearInput::FfnDown, gate_.data(), t0, n, F);
  }
  hook->stage_done(layer, LinearInput::FfnDown, L);
  // The batch through the final FFN.
  for (const auto& [s0, s1] : mbs) {
    const auto [t0, n] = span(s0, s1);
    float* x = hidden + t0 * E;
    for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
    ffn_hidden(L, n);
    matmul(pool_, L.ffn_down, gate_.data(), n, xn);
    post_norm(L.ffn_post_norm, xn, n);
    for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];
  }
}

void LayerRunner::logits(const Model& model, const SampleBatch& batch, int64_t s, std::vector<float>& out) const {
  const int64_t E = config_.n_embd;
  const int64_t begin = batch.offsets[size_t(s)], len = batch.sample_length(s);
  std::vector<float> normed(size_t(len * E));
  for (int64_t t = 0; t < len; ++t)
    rms_norm(batch.hidden.data() + (begin + t) * E, model.output_norm.data(), normed.data() + t * E, E, config_.rms_eps);
  out.resize(size_t(len * config_.n_vocab));
  matmul(pool_, model.output, normed.data(), len, out.data());
  if (config_.final_logit_softcap > 0) softcap(out.data(), len * config_.n_vocab, config_.final_logit_softcap);
}

}  // namespace quantlab
