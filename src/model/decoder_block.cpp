#include "src/model/decoder_block.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/phase_times.hpp"

#include <algorithm>
#include <cmath>

namespace quantlab::detail {
namespace {

Tensor vector_tensor(Backend& be, const std::vector<float>& v) {
  if (v.empty()) return {};
  return be.place(host_tensor(FormatId::F32, v.data(), 1, int64_t(v.size())));
}

Tensor matrix_tensor(Backend& be, const WeightMatrix& w) { return w.empty() ? Tensor{} : be.place(w); }

AttentionShape attention_shape(const ModelConfig& c, int64_t layer) {
  AttentionShape s;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head_kv;
  s.head_dim = c.head_dim;
  // Gemma scales Q itself (after RoPE) and gives the scores no further scale, as llama.cpp does.
  s.scale = c.attn_q_scale > 0 ? 1.0f : 1.0f / std::sqrt(float(c.head_dim));
  s.window = c.attention_window(layer);
  return s;
}

bool stopped(const BlockTap& tap, LinearInput which, const Tensor& x) {
  return tap && tap(which, x) == TapAction::Stop;
}

}  // namespace

LayerTensors place_layer(Backend& be, const LayerWeights& w) {
  LayerTensors t;
  t.attn_norm = vector_tensor(be, w.attn_norm);
  t.wq = matrix_tensor(be, w.wq);
  t.wk = matrix_tensor(be, w.wk);
  t.wv = matrix_tensor(be, w.wv);
  t.wo = matrix_tensor(be, w.wo);
  t.q_bias = vector_tensor(be, w.q_bias);
  t.k_bias = vector_tensor(be, w.k_bias);
  t.v_bias = vector_tensor(be, w.v_bias);
  t.q_norm = vector_tensor(be, w.q_norm);
  t.k_norm = vector_tensor(be, w.k_norm);
  t.attn_post_norm = vector_tensor(be, w.attn_post_norm);
  t.ffn_norm = vector_tensor(be, w.ffn_norm);
  t.ffn_gate = matrix_tensor(be, w.ffn_gate);
  t.ffn_up = matrix_tensor(be, w.ffn_up);
  t.ffn_down = matrix_tensor(be, w.ffn_down);
  t.ffn_post_norm = vector_tensor(be, w.ffn_post_norm);
  return t;
}

void replace_consumers(Backend& be, LinearInput which, const LayerWeights& w, LayerTensors& t) {
  const auto replace = [&](Tensor& placed, const WeightMatrix& m) {
    placed = {};
    placed = matrix_tensor(be, m);
  };
  switch (which) {
    case LinearInput::AttnQKV:
      replace(t.wq, w.wq);
      replace(t.wk, w.wk);
      replace(t.wv, w.wv);
      break;
    case LinearInput::AttnOutput: replace(t.wo, w.wo); break;
    case LinearInput::FfnGateUp:
      replace(t.ffn_gate, w.ffn_gate);
      replace(t.ffn_up, w.ffn_up);
      break;
    case LinearInput::FfnDown: replace(t.ffn_down, w.ffn_down); break;
    case LinearInput::Output: break;
  }
}

HeadTensors place_head(Backend& be, const Model& model) {
  HeadTensors h;
  h.token_embd = model.token_embd;  // rows are decoded on the host and copied (see Backend::embed)
  h.output_norm = vector_tensor(be, model.output_norm);
  h.output = matrix_tensor(be, model.output);
  return h;
}

const float* host_values(Backend& be, const Tensor& t, std::vector<float>& scratch) {
  if (t.device.is_cpu()) return t.f32();
  scratch.resize(size_t(t.elements()));
  be.to_host(t, scratch.data());
  return scratch.data();
}

DecoderBlock::DecoderBlock(Backend& backend, const ModelConfig& config) : be_(backend), c_(config) {}

Tensor DecoderBlock::scratch(Tensor& buffer, int64_t rows, int64_t cols) {
  if (buffer.empty() || buffer.rows * buffer.cols < rows * cols)
    buffer = be_.alloc(FormatId::F32, std::max<int64_t>(1, rows), std::max<int64_t>(1, cols));
  return buffer.reshaped(rows, cols);
}

void DecoderBlock::embed(const HeadTensors& head, std::span<const int32_t> ids, Tensor& x) {
  be_.embed(head.token_embd, ids, c_.embd_scale, x);
}

bool DecoderBlock::attention(int64_t layer, const LayerTensors& w, Tensor& x, std::span<const BlockSequence> sequences,
                             const BlockTap& tap) {
  const int64_t n = x.rows, E = c_.n_embd, hd = c_.head_dim;
  const int64_t q_dim = c_.n_head * hd, kv_dim = c_.n_head_kv * hd;
  Tensor xn = scratch(xn_, n, E);
  be_.rms_norm(x, w.attn_norm, c_.rms_eps, xn);
  if (stopped(tap, LinearInput::AttnQKV, xn)) return false;
  Tensor q = scratch(q_, n, q_dim), k = scratch(k_, n, kv_dim), v = scratch(v_, n, kv_dim);
  const Tensor* qkv_w[] = {&w.wq, &w.wk, &w.wv};
  Tensor* qkv[] = {&q, &k, &v};
  be_.matmul_group(qkv_w, xn, qkv);
  if (!w.q_bias.empty()) be_.add_row(q, w.q_bias);
  if (!w.k_bias.empty()) be_.add_row(k, w.k_bias);
  if (!w.v_bias.empty()) be_.add_row(v, w.v_bias);
  if (!w.q_norm.empty()) be_.rms_norm(q, w.q_norm, c_.rms_eps, q);
  if (!w.k_norm.empty()) be_.rms_norm(k, w.k_norm, c_.rms_eps, k);
  positions_.resize(size_t(n));
  for (const BlockSequence& s : sequences)
    for (int64_t i = 0; i < s.n_rows; ++i) positions_[size_t(s.first_row + i)] = int32_t(s.first_pos + i);
  const RopeParams rope = c_.rope(layer);
  be_.rope(q, hd, rope, positions_);
  be_.rope(k, hd, rope, positions_);
  if (c_.attn_q_scale > 0) be_.scale(q, c_.attn_q_scale);
  Tensor attn = scratch(attn_, n, q_dim);
  const AttentionShape shape = attention_shape(c_, layer);
  {
    const PhaseScope timing("attention");  // quantize --profile: the attention kernels' share
    for (const BlockSequence& s : sequences) {
      Tensor out = attn.row_range(s.first_row, s.n_rows);
      be_.attention(shape, q.row_range(s.first_row, s.n_rows), k.row_range(s.first_row, s.n_rows),
                    v.row_range(s.first_row, s.n_rows), *s.cache, s.cache_layer, s.first_pos, out);
    }
  }
  if (stopped(tap, LinearInput::AttnOutput, attn)) return false;
  attention_output(w, attn, x);
  return true;
}

void DecoderBlock::attention_output(const LayerTensors& w, const Tensor& attn, Tensor& x) {
  Tensor xn = scratch(xn_, x.rows, c_.n_embd);
  be_.matmul(w.wo, attn, xn);
  if (!w.attn_post_norm.empty()) be_.rms_norm(xn, w.attn_post_norm, c_.rms_eps, xn);
  be_.add(x, xn);
}

bool DecoderBlock::ffn(int64_t /*layer*/, const LayerTensors& w, Tensor& x, const BlockTap& tap) {
  const int64_t n = x.rows, E = c_.n_embd, F = c_.n_ff;
  Tensor xn = scratch(xn_, n, E);
  be_.rms_norm(x, w.ffn_norm, c_.rms_eps, xn);
  if (stopped(tap, LinearInput::FfnGateUp, xn)) return false;
  Tensor gate = scratch(gate_, n, F), up = scratch(up_, n, F);
  const Tensor* gate_up_w[] = {&w.ffn_gate, &w.ffn_up};
  Tensor* gate_up[] = {&gate, &up};
  be_.matmul_group(gate_up_w, xn, gate_up);
  be_.gated_activation(c_.ffn_act, gate, up);
  if (stopped(tap, LinearInput::FfnDown, gate)) return false;
  be_.matmul(w.ffn_down, gate, xn);
  if (!w.ffn_post_norm.empty()) be_.rms_norm(xn, w.ffn_post_norm, c_.rms_eps, xn);
  be_.add(x, xn);
  return true;
}

void DecoderBlock::logits(const HeadTensors& head, const Tensor& x, Tensor& logits, const BlockTap& tap) {
  Tensor xn = scratch(xn_, x.rows, c_.n_embd);
  be_.rms_norm(x, head.output_norm, c_.rms_eps, xn);
  if (stopped(tap, LinearInput::Output, xn)) return;
  be_.matmul(head.output, xn, logits);
  if (c_.final_logit_softcap > 0) be_.softcap(logits, c_.final_logit_softcap);
}

}  // namespace quantlab::detail
