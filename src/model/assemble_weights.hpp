#pragma once
// The one place that knows which tensors a Llama-family model is made of and their shapes; each
// file format only says what the tensors are called (a TensorNames table) and how to read one (a
// reader with has/matrix/vec that throws Error naming the file and tensor). GGUF and Hugging Face
// folders and llama2.c checkpoints differ in names only, so they share this code and cannot drift apart.
#include "quantlab/model/model.hpp"

#include <string>

namespace quantlab::detail {

struct TensorNames {
  std::string token_embd, output_norm, output;
  std::string layer_prefix;  // followed by the layer number and `layer_suffix`
  std::string layer_suffix;
  std::string attn_norm, wq, wk, wv, wo, q_bias, k_bias, v_bias, q_norm, k_norm;
  std::string attn_post_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_post_norm;
};

inline const TensorNames& gguf_tensor_names() {
  static const TensorNames n{"token_embd.weight", "output_norm.weight", "output.weight", "blk.", ".",
                             "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                             "attn_output.weight", "attn_q.bias", "attn_k.bias", "attn_v.bias",
                             "attn_q_norm.weight", "attn_k_norm.weight", "post_attention_norm.weight",
                             "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
                             "post_ffw_norm.weight"};
  return n;
}

// Hugging Face Llama/Qwen naming. Gemma 3 (which has post norms) is not loaded from folders.
inline const TensorNames& hf_tensor_names() {
  static const TensorNames n{"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.", ".",
                             "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                             "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
                             "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.q_norm.weight",
                             "self_attn.k_norm.weight", "", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
                             "mlp.up_proj.weight", "mlp.down_proj.weight", ""};
  return n;
}

// llama2.c's export.py names (its checkpoints carry the tensors in this order, without names; the
// io layer's reader names them so).
inline const TensorNames& llama2c_tensor_names() {
  static const TensorNames n{"tok_embeddings.weight", "norm.weight", "output.weight", "layers.", ".",
                             "attention_norm.weight", "attention.wq.weight", "attention.wk.weight",
                             "attention.wv.weight", "attention.wo.weight", "", "", "", "", "", "", "ffn_norm.weight",
                             "feed_forward.w1.weight", "feed_forward.w3.weight", "feed_forward.w2.weight", ""};
  return n;
}

// A reader's vec() copies a norm or bias out of the mapped file and then releases the pages it read
// (release_mapped_pages): where the page cache holds the file in large folios, reading those few KiB
// maps up to 2 MiB around them, and a model's norms alone would keep ~2 MiB per layer resident for a
// whole streamed quantization, which must keep only the current layer.
//
// Fills m.token_embd, m.layers, m.output_norm and m.output from `r` for the validated m.config
// (qkv_bias, qk_norm, post_norms and tied_embeddings decide which optional tensors are read).
template <class Reader>
void assemble_weights(Model& m, const Reader& r, const TensorNames& n) {
  const ModelConfig& c = m.config;
  const int64_t E = c.n_embd, q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  m.token_embd = r.matrix(n.token_embd, c.n_vocab, E);
  m.layers.clear();
  m.layers.reserve(static_cast<size_t>(c.n_layer));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = n.layer_prefix + std::to_string(l) + n.layer_suffix;
    LayerWeights L;
    L.attn_norm = r.vec(b + n.attn_norm, E);
    L.wq = r.matrix(b + n.wq, q_dim, E);
    L.wk = r.matrix(b + n.wk, kv_dim, E);
    L.wv = r.matrix(b + n.wv, kv_dim, E);
    L.wo = r.matrix(b + n.wo, E, q_dim);
    if (c.qkv_bias) {
      L.q_bias = r.vec(b + n.q_bias, q_dim);
      L.k_bias = r.vec(b + n.k_bias, kv_dim);
      L.v_bias = r.vec(b + n.v_bias, kv_dim);
    }
    if (c.qk_norm) {
      L.q_norm = r.vec(b + n.q_norm, c.head_dim);
      L.k_norm = r.vec(b + n.k_norm, c.head_dim);
    }
    if (c.post_norms) {
      L.attn_post_norm = r.vec(b + n.attn_post_norm, E);
      L.ffn_post_norm = r.vec(b + n.ffn_post_norm, E);
    }
    L.ffn_norm = r.vec(b + n.ffn_norm, E);
    L.ffn_gate = r.matrix(b + n.ffn_gate, c.n_ff, E);
    L.ffn_up = r.matrix(b + n.ffn_up, c.n_ff, E);
    L.ffn_down = r.matrix(b + n.ffn_down, E, c.n_ff);
    m.layers.push_back(std::move(L));
  }
  m.output_norm = r.vec(n.output_norm, E);
  m.output = c.tied_embeddings ? m.token_embd : r.matrix(n.output, c.n_vocab, E);
}

}  // namespace quantlab::detail
