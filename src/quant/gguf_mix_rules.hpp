#pragma once
// llama.cpp's per-tensor type choice for its named mixes (llama_tensor_get_type), for the
// llama-family architectures quantlab loads (no Falcon, MoE only through n_expert). Its position
// counters (i-th attn_v, i-th ffn_down) depend on the order tensors are visited, so callers visit
// them in llama.cpp's order (layer, then name).
#include "quantlab/quant/gguf_quantize.hpp"

#include <regex>
#include <string>
#include <vector>

namespace quantlab::gguf_mix {

enum class Category { Output, TokenEmbd, AttnQKV, AttnKVB, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };
Category category_of(const std::string& name);

struct ModelFacts {
  int n_layer = 0;
  int n_gqa = 1;       // n_head / n_head_kv
  int n_expert = 0;
  bool tied_embeddings = true;  // no output.weight
  int n_attention_wv = 0;
};

// Whether llama.cpp would consider changing this tensor's type at all (2-D weights that are not
// norms, gates of experts, positional tables, ...).
bool allows_quantization(const std::string& name, const std::vector<int64_t>& ne);
// Whether a tensor of this destination type needs an imatrix (IQ1/IQ2/IQ3_XXS, Q2_K in Q2_K_S).
bool requires_imatrix(const std::string& name, FormatId type, uint32_t file_type);

class TypeChooser {
 public:
  TypeChooser(const GgufQuantizeOptions& o, const ModelFacts& facts);
  // Call once per tensor, in llama.cpp's order. `fell_back` reports a row-length fallback.
  FormatId choose(const std::string& name, const std::vector<int64_t>& ne, FormatId current, bool& fell_back);

 private:
  FormatId mix_rule(FormatId t, const std::string& name, const std::vector<int64_t>& ne, Category c);
  FormatId fallback(const std::string& name, int64_t ncols, FormatId t, bool& fell_back) const;

  const GgufQuantizeOptions& o_;
  ModelFacts m_;
  std::vector<std::pair<std::regex, FormatId>> patterns_;
  int i_attention_wv_ = 0, i_ffn_down_ = 0, i_ffn_gate_ = 0, i_ffn_up_ = 0;
};

}  // namespace quantlab::gguf_mix
