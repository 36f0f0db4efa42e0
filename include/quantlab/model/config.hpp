#pragma once
// What a Llama-family model is, independent of where its weights came from (GGUF, llama2.c,
// Hugging Face folders): sizes, normalisation, rotary embedding and the architecture's options.
#include "quantlab/backend/ops.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

struct ModelConfig {
  std::string arch;            // "llama", "qwen2", "qwen3"
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
  bool qk_norm = false;          // Qwen3: RMSNorm of each Q/K head before RoPE

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

}  // namespace quantlab
