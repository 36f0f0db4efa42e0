#pragma once
// What a Llama-family model is, independent of where its weights came from (GGUF, llama2.c,
// Hugging Face folders): sizes, normalisation, rotary embedding and the architecture's options.
// Gemma 3 is the Llama block with a few switches on (embedding scale, sandwich norms, GELU,
// interleaved sliding-window layers with their own RoPE base); the forward pass reads them here.
#include "quantlab/backend/ops.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

struct ModelConfig {
  std::string arch;            // "llama", "qwen2", "qwen3", "gemma3"
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;        // may differ from n_embd / n_head (Qwen3)
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  float rms_eps = 1e-5f;

  RopeStyle rope_style = RopeStyle::Normal;
  int64_t n_rot = 0;           // rotated dims per head
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  std::vector<float> rope_freq_factors;  // n_rot/2 entries (Llama 3 scaling) or empty

  bool tied_embeddings = false;  // output projection is the token embedding
  bool qkv_bias = false;         // Qwen2
  bool qk_norm = false;          // Qwen3, Gemma 3: RMSNorm of each Q/K head before RoPE

  // Gemma 3 (llama.cpp's src/models/gemma3.cpp). Defaults leave a Llama block unchanged.
  float embd_scale = 1.0f;       // token embeddings are multiplied by this (Gemma: sqrtf(n_embd))
  float attn_q_scale = 0.0f;     // >0: Q is multiplied by this after RoPE and the scores are not
                                 // scaled again (Gemma); 0: scores scaled by 1/sqrt(head_dim)
  bool post_norms = false;       // Gemma: RMSNorm of the attention and FFN outputs before each residual add
  FfnActivation ffn_act = FfnActivation::SiLU;
  int64_t n_swa = 0;             // sliding window of the local layers (0: none); see swa_layers
  std::vector<uint8_t> swa_layers;  // n_layer entries (or empty): 1 = the layer attends within n_swa
  float rope_freq_base_swa = 10000.0f;   // RoPE of the sliding-window layers
  float rope_freq_scale_swa = 1.0f;
  float final_logit_softcap = 0.0f;      // >0: logits = cap * tanh(logits / cap)

  bool is_swa(int64_t layer) const {
    return n_swa > 0 && !swa_layers.empty() && swa_layers[static_cast<size_t>(layer)] != 0;
  }
  // The rotary parameters layer `layer` uses (sliding-window layers have their own base and scale).
  RopeParams rope(int64_t layer) const;
  // Keys a layer's query sees: the last `window` positions, the query's own included (0: all).
  int64_t attention_window(int64_t layer) const { return is_swa(layer) ? n_swa : 0; }

  // Special tokens the forward pass's users need (BOS at chunk starts, EOS to stop).
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  bool add_bos = true;

  // Throws Error(source, field, ...) if sizes are inconsistent.
  void validate(const std::string& source) const;
};

// Llama 3's frequency divisors (Hugging Face rope_type "llama3"): wavelengths shorter than
// original_ctx/high_freq_factor are kept, longer than original_ctx/low_freq_factor divided by
// `factor`, and those in between interpolated smoothly. llama.cpp stores them as rope_freqs.weight.
std::vector<float> llama3_rope_freq_factors(int64_t n_rot, float freq_base, float factor, float low_freq_factor,
                                            float high_freq_factor, int64_t original_ctx);

// Row order between llama.cpp's interleaved rotary layout (its converter permutes llama Q/K rows so
// that RoPE rotates adjacent pairs) and Hugging Face's (rotate_half): the Hugging Face row of
// interleaved row r in a matrix of heads of `head_dim` rows.
int64_t hf_row_of_gguf_row(int64_t r, int64_t head_dim);

// llama.cpp's interleaved sliding-window pattern (llama_hparams::set_swa_pattern, dense_first
// false): with period n, layer l is local unless l % n == n - 1; n == 0 makes every layer local.
std::vector<uint8_t> swa_pattern(int64_t n_layer, int64_t period);

}  // namespace quantlab
