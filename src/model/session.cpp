#include "quantlab/model/session.hpp"
#include "src/model/block_ops.hpp"
#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {
namespace {

// Tokens processed per pass inside one forward() call: bounds scratch memory for long inputs
// (llama.cpp's default micro-batch is the same size).
constexpr int64_t kMicroBatch = 512;

void add_bias(float* y, const std::vector<float>& bias, int64_t n_tokens) {
  if (bias.empty()) return;
  const int64_t m = int64_t(bias.size());
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t i = 0; i < m; ++i) y[t * m + i] += bias[size_t(i)];
}

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// Runs fn(t) for every token, split across the pool when the batch is big enough to pay for it.
// Tokens are independent here, so the split cannot change any result.
template <class Fn>
void for_tokens(ThreadPool& pool, int64_t n_tokens, int64_t work_per_token, Fn&& fn) {
  if (pool.size() == 1 || n_tokens * work_per_token < (1 << 15)) {
    for (int64_t t = 0; t < n_tokens; ++t) fn(t);
    return;
  }
  pool.parallel_for(n_tokens, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) fn(t);
  });
}

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

Session::Session(const Model& model, ThreadPool& pool, int64_t n_ctx) : model_(model), pool_(pool) {
  const auto& c = model.config;
  if (n_ctx <= 0) n_ctx = c.n_ctx_train > 0 ? std::min<int64_t>(c.n_ctx_train, 4096) : 4096;
  n_ctx_ = n_ctx;
  const size_t kv = size_t(c.n_layer) * size_t(n_ctx) * size_t(c.n_head_kv * c.head_dim);
  k_cache_.assign(kv, 0.0f);
  v_cache_.assign(kv, 0.0f);
}

void Session::rewind(int64_t position) {
  if (position < 0 || position > n_past_)
    throw Error("session", "position", "cannot rewind to " + std::to_string(position) + " (at " + std::to_string(n_past_) + ")");
  n_past_ = position;
}

void Session::linear(const WeightMatrix& w, const float* x, int64_t n, float* y) { matmul(pool_, w, x, n, y); }

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
  const int64_t E = c.n_embd, H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim, F = c.n_ff;
  const int64_t q_dim = H * hd, kv_dim = Hkv * hd;
  x_.resize(size_t(n * E));
  xn_.resize(size_t(n * std::max(E, q_dim)));
  q_.resize(size_t(n * q_dim));
  k_.resize(size_t(n * kv_dim));
  v_.resize(size_t(n * kv_dim));
  attn_.resize(size_t(n * q_dim));
  gate_.resize(size_t(n * F));
  up_.resize(size_t(n * F));

  for (int64_t t = 0; t < n; ++t) {
    float* xt = x_.data() + t * E;
    row_to_f32(model_.token_embd.format, model_.token_embd.row(tokens[t]), xt, E);
    if (c.embd_scale != 1.0f)
      for (int64_t i = 0; i < E; ++i) xt[i] *= c.embd_scale;
  }

  // Angles of every position for each RoPE the layers use: [0] global layers, [1] sliding-window
  // layers (Gemma 3 gives them another base).
  const int64_t half = c.n_rot / 2;
  bool any_swa = false, any_global = false;
  for (int64_t l = 0; l < c.n_layer; ++l) (c.is_swa(l) ? any_swa : any_global) = true;
  for (int kind = 0; kind < 2; ++kind) {
    if (!(kind ? any_swa : any_global)) continue;
    const RopeParams rp = detail::rope_of_kind(c, kind == 1);
    rope_cos_[kind].resize(size_t(n * half));
    rope_sin_[kind].resize(size_t(n * half));
    for (int64_t t = 0; t < n; ++t)
      rope_angles(rp, n_past_ + t, rope_cos_[kind].data() + t * half, rope_sin_[kind].data() + t * half);
  }

  const size_t layer_kv = size_t(n_ctx_) * size_t(kv_dim);

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = model_.layers[size_t(l)];
    const RopeParams rope = c.rope(l);
    const int kind = c.is_swa(l) ? 1 : 0;
    const float* cos_l = rope_cos_[kind].data();
    const float* sin_l = rope_sin_[kind].data();
    const AttentionShape shape = detail::attention_shape(c, l);
    float* x = x_.data();
    float* xn = xn_.data();
    for_tokens(pool_, n, E, [&](int64_t t) { rms_norm(x + t * E, L.attn_norm.data(), xn + t * E, E, c.rms_eps); });
    if (observer_) observer_->on_linear_input(int(l), LinearInput::AttnQKV, xn, n, E);
    linear(L.wq, xn, n, q_.data());
    linear(L.wk, xn, n, k_.data());
    linear(L.wv, xn, n, v_.data());
    add_bias(q_.data(), L.q_bias, n);
    add_bias(k_.data(), L.k_bias, n);
    add_bias(v_.data(), L.v_bias, n);
    for_tokens(pool_, n, q_dim + kv_dim, [&](int64_t t) {
      float* qt = q_.data() + t * q_dim;
      float* kt = k_.data() + t * kv_dim;
      if (!L.q_norm.empty())
        for (int64_t h = 0; h < H; ++h) rms_norm(qt + h * hd, L.q_norm.data(), qt + h * hd, hd, c.rms_eps);
      if (!L.k_norm.empty())
        for (int64_t h = 0; h < Hkv; ++h) rms_norm(kt + h * hd, L.k_norm.data(), kt + h * hd, hd, c.rms_eps);
      rope_apply(rope, cos_l + t * half, sin_l + t * half, qt, H, hd);
      rope_apply(rope, cos_l + t * half, sin_l + t * half, kt, Hkv, hd);
      if (c.attn_q_scale > 0)
        for (int64_t i = 0; i < q_dim; ++i) qt[i] *= c.attn_q_scale;
    });
    float* kc = k_cache_.data() + size_t(l) * layer_kv;  // [n_head_kv][head_dim][n_ctx] (transposed)
    float* vc = v_cache_.data() + size_t(l) * layer_kv;  // [n_ctx][n_head_kv*head_dim]
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < kv_dim; ++i) kc[i * n_ctx_ + n_past_ + t] = k_[size_t(t * kv_dim + i)];
    std::copy(v_.begin(), v_.begin() + n * kv_dim, vc + n_past_ * kv_dim);
    attention(pool_, shape, q_.data(), kc, n_ctx_, vc, n_past_, n, attn_.data());
    if (observer_) observer_->on_linear_input(int(l), LinearInput::AttnOutput, attn_.data(), n, q_dim);
    linear(L.wo, attn_.data(), n, xn);
    for_tokens(pool_, n, E, [&](int64_t t) {
      if (!L.attn_post_norm.empty()) rms_norm(xn + t * E, L.attn_post_norm.data(), xn + t * E, E, c.rms_eps);
      add_into(x + t * E, xn + t * E, E);
      rms_norm(x + t * E, L.ffn_norm.data(), xn + t * E, E, c.rms_eps);
    });
    if (observer_) observer_->on_linear_input(int(l), LinearInput::FfnGateUp, xn, n, E);
    linear(L.ffn_gate, xn, n, gate_.data());
    linear(L.ffn_up, xn, n, up_.data());
    for_tokens(pool_, n, 8 * F, [&](int64_t t) { detail::ffn_activation(c, gate_.data() + t * F, up_.data() + t * F, F); });
    if (observer_) observer_->on_linear_input(int(l), LinearInput::FfnDown, gate_.data(), n, F);
    linear(L.ffn_down, gate_.data(), n, xn);
    for_tokens(pool_, n, E, [&](int64_t t) {
      if (!L.ffn_post_norm.empty()) rms_norm(xn + t * E, L.ffn_post_norm.data(), xn + t * E, E, c.rms_eps);
      add_into(x + t * E, xn + t * E, E);
    });
  }
  n_past_ += n;

  const int64_t n_out = n - first_output;
  if (n_out <= 0) return;
  out_norm_.resize(size_t(n_out * E));
  for (int64_t t = 0; t < n_out; ++t)
    rms_norm(x_.data() + (first_output + t) * E, model_.output_norm.data(), out_norm_.data() + t * E, E, c.rms_eps);
  if (observer_) observer_->on_linear_input(-1, LinearInput::Output, out_norm_.data(), n_out, E);
  linear(model_.output, out_norm_.data(), n_out, logits_out);
  if (c.final_logit_softcap > 0) softcap(logits_out, n_out * c.n_vocab, c.final_logit_softcap);
}

}  // namespace quantlab
