#pragma once
// The per-layer choices of a decoder block that depend on the architecture (attention shape and
// window, FFN activation, which RoPE a layer uses), in one place so that Session and LayerRunner
// compute the same thing in the same order (their results must stay bit-identical).
#include "quantlab/backend/ops.hpp"
#include "quantlab/model/config.hpp"

#include <cmath>
#include <cstdint>

namespace quantlab::detail {

inline AttentionShape attention_shape(const ModelConfig& c, int64_t layer) {
  AttentionShape s;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head_kv;
  s.head_dim = c.head_dim;
  // Gemma scales Q itself (after RoPE) and gives the scores no further scale, as llama.cpp does.
  s.scale = c.attn_q_scale > 0 ? 1.0f : 1.0f / std::sqrt(float(c.head_dim));
  s.window = c.attention_window(layer);
  return s;
}

// gate = act(gate) * up, in place.
inline void ffn_activation(const ModelConfig& c, float* gate, const float* up, int64_t n) {
  if (c.ffn_act == FfnActivation::GeluTanh) geglu(gate, up, gate, n);
  else swiglu(gate, up, gate, n);
}

// The RoPE of the sliding-window layers (swa) or of the global ones; both kinds share one table
// of angles per position.
inline RopeParams rope_of_kind(const ModelConfig& c, bool swa) {
  for (int64_t l = 0; l < c.n_layer; ++l)
    if (c.is_swa(l) == swa) return c.rope(l);
  return c.rope(0);
}

}  // namespace quantlab::detail
