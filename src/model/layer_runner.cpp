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

void LayerRunner::run_layer(int layer, const LayerWeights& weights, SampleBatch& batch) {
  // Without a hook nothing writes to the weights; the const_cast only satisfies the signature.
  run_layer(layer, const_cast<LayerWeights&>(weights), batch, nullptr);
}

void LayerRunner::run_layer(int layer, LayerWeights& L, SampleBatch& batch, LayerHook* hook) {
  const auto& c = config_;
  const int64_t E = c.n_embd, H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim, F = c.n_ff;
  const int64_t q_dim = H * hd, kv_dim = Hkv * hd;
  const int64_t n = batch.n_tokens();
  xn_.resize(size_t(n * std::max(E, q_dim)));
  q_.resize(size_t(n * q_dim));
  k_.resize(size_t(n * kv_dim));
  v_.resize(size_t(n * kv_dim));
  attn_.resize(size_t(n * q_dim));
  gate_.resize(size_t(n * F));
  up_.resize(size_t(n * F));

  const RopeParams rope = c.rope(layer);
  const int kind = c.is_swa(layer) ? 1 : 0;  // the angle table of this layer's RoPE
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
  const AttentionShape shape = detail::attention_shape(c, layer);

  float* x = batch.hidden.data();
  float* xn = xn_.data();
  for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.attn_norm.data(), xn + t * E, E, c.rms_eps);
  if (hook) hook->before_linears(layer, LinearInput::AttnQKV, xn, n, E, L);
  matmul(pool_, L.wq, xn, n, q_.data());
  matmul(pool_, L.wk, xn, n, k_.data());
  matmul(pool_, L.wv, xn, n, v_.data());
  add_bias(q_.data(), L.q_bias, n);
  add_bias(k_.data(), L.k_bias, n);
  add_bias(v_.data(), L.v_bias, n);
  for (int64_t s = 0; s < batch.n_samples(); ++s) {
    const int64_t begin = batch.offsets[size_t(s)], len = batch.sample_length(s);
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
              attn_.data() + begin * q_dim);
  }
  if (hook) hook->before_linears(layer, LinearInput::AttnOutput, attn_.data(), n, q_dim, L);
  matmul(pool_, L.wo, attn_.data(), n, xn);
  if (!L.attn_post_norm.empty())
    for (int64_t t = 0; t < n; ++t) rms_norm(xn + t * E, L.attn_post_norm.data(), xn + t * E, E, c.rms_eps);
  for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];

  for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
  if (hook) hook->before_linears(layer, LinearInput::FfnGateUp, xn, n, E, L);
  matmul(pool_, L.ffn_gate, xn, n, gate_.data());
  matmul(pool_, L.ffn_up, xn, n, up_.data());
  detail::ffn_activation(c, gate_.data(), up_.data(), n * F);
  if (hook) hook->before_linears(layer, LinearInput::FfnDown, gate_.data(), n, F, L);
  matmul(pool_, L.ffn_down, gate_.data(), n, xn);
  if (!L.ffn_post_norm.empty())
    for (int64_t t = 0; t < n; ++t) rms_norm(xn + t * E, L.ffn_post_norm.data(), xn + t * E, E, c.rms_eps);
  for (int64_t i = 0; i < n * E; ++i) x[i] += xn[i];
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
