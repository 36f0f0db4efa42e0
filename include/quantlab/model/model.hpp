#pragma once
// A loaded model: its configuration and its weights (DESIGN.md: a Model holds weights and config;
// per-run state lives in a Session). Matrices point into the memory-mapped source file where its
// layout allows (no copy, any registry format); small vectors (norms, biases) are decoded to f32.
// Tensor roles follow the canonical GGUF names (token_embd, blk.N.attn_q, ..., output).
#include "quantlab/backend/matmul.hpp"
#include "quantlab/model/config.hpp"

#include <memory>
#include <string>
#include <vector>

namespace quantlab {

struct LayerWeights {
  std::vector<float> attn_norm;                    // blk.N.attn_norm.weight
  WeightMatrix wq, wk, wv, wo;                     // blk.N.attn_q/k/v/output.weight
  std::vector<float> q_bias, k_bias, v_bias;       // blk.N.attn_q/k/v.bias (Qwen2), else empty
  std::vector<float> q_norm, k_norm;               // blk.N.attn_q_norm/k_norm.weight (Qwen3, Gemma 3), else empty
  std::vector<float> attn_post_norm;               // blk.N.post_attention_norm.weight (Gemma 3), else empty
  std::vector<float> ffn_norm;                     // blk.N.ffn_norm.weight
  WeightMatrix ffn_gate, ffn_up, ffn_down;         // blk.N.ffn_gate/up/down.weight
  std::vector<float> ffn_post_norm;                // blk.N.post_ffw_norm.weight (Gemma 3), else empty
};

struct Model {
  ModelConfig config;
  std::string source;                  // path it was loaded from
  std::string source_format;           // "gguf", "hf", "llama2c"
  WeightMatrix token_embd;             // [n_vocab][n_embd]
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;
  WeightMatrix output;                 // [n_vocab][n_embd]; the embedding when tied
  std::shared_ptr<const void> storage; // keeps the mapped file (or owned buffers) alive
};

// Loads a GGUF file (llama, qwen2, qwen3, gemma3 architectures), a Hugging Face folder (llama, mistral,
// qwen2, qwen3; F32/F16/BF16 safetensors) or a llama2.c checkpoint. Throws Error naming the
// file and the field on anything inconsistent.
Model load_model(const std::string& path);

// What kind of model `path` holds, told by its bytes (GGUF magic, a llama2.c header whose values
// are a plausible model, config.json in a folder), not by its name. Throws Error(path, "", "not a
// model file (...)") for anything else (a text file, a lone .safetensors, a folder without
// config.json), so a wrong path gets one clear line instead of a misread header.
enum class ModelFileKind { Gguf, HfFolder, Llama2c };
ModelFileKind model_file_kind(const std::string& path);
Model load_gguf_model(const std::string& path);
Model load_hf_model(const std::string& dir);
Model load_llama2c_model(const std::string& path);

}  // namespace quantlab
