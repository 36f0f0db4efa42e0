// Facts from llama.cpp src/llama-quant.cpp (llama_tensor_get_type_impl, tensor_type_fallback,
// tensor_allows_quantization, tensor_requires_imatrix); written anew for quantlab's types.
#include "gguf_mix_rules.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab::gguf_mix {
namespace {

// llama_ftype numbers (general.file_type).
enum Ftype : uint32_t {
  Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17,
  IQ2_XXS = 19, IQ2_XS = 20, Q2_K_S = 21, IQ3_XS = 22, IQ3_XXS = 23, IQ1_S = 24, IQ4_NL = 25, IQ3_S = 26,
  IQ3_M = 27, IQ2_S = 28, IQ2_M = 29, IQ4_XS = 30, IQ1_M = 31, Q4_0 = 2, Q5_0 = 8, TQ1_0 = 36, TQ2_0 = 37,
  MXFP4_MOE = 38,
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool is_attn_v_like(Category c) { return c == Category::AttnV || c == Category::AttnQKV || c == Category::AttnKVB; }

// Layers that get more bits in the _M mixes: the first and last eighth, and every third between.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int n_dims(const std::vector<int64_t>& ne) {
  int n = 1;
  for (size_t i = 0; i < ne.size(); ++i)
    if (ne[i] != 1) n = int(i) + 1;
  return n;
}

}  // namespace

Category category_of(const std::string& n) {
  if (n == "output.weight") return Category::Output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::TokenEmbd;
  if (contains(n, "attn_qkv.weight")) return Category::AttnQKV;
  if (contains(n, "attn_kv_b.weight")) return Category::AttnKVB;
  if (contains(n, "attn_v.weight")) return Category::AttnV;
  if (contains(n, "attn_k.weight")) return Category::AttnK;
  if (contains(n, "attn_q.weight")) return Category::AttnQ;
  if (contains(n, "attn_output.weight")) return Category::AttnOutput;
  if (contains(n, "ffn_up")) return Category::FfnUp;
  if (contains(n, "ffn_gate")) return Category::FfnGate;
  if (contains(n, "ffn_down")) return Category::FfnDown;
  return Category::Other;
}

bool allows_quantization(const std::string& name, const std::vector<int64_t>& ne) {
  if (n_dims(ne) < 2) return false;
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
  for (const char* never : {"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
                            "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "time_mix_first.weight",
                            "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
                            "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
                            "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
                            "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
                            "attn_rel_b.weight", ".position_embd", ".rel_pos", ".patch_embd", ".patch_merger"})
    if (contains(name, never)) return false;
  return name != "position_embd.weight" && name != "token_types.weight";
}

bool requires_imatrix(const std::string& name, FormatId type, uint32_t file_type) {
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight") return false;
  switch (type) {
    case FormatId::IQ3_XXS: case FormatId::IQ2_XXS: case FormatId::IQ2_XS: case FormatId::IQ2_S:
    case FormatId::IQ1_M: case FormatId::IQ1_S:
      return true;
    case FormatId::Q2_K:
      return file_type == Q2_K_S;
    default:
      return false;
  }
}

TypeChooser::TypeChooser(const GgufQuantizeOptions& o, const ModelFacts& facts) : o_(o), m_(facts) {
  for (const auto& [pattern, type] : o.tensor_type_overrides) {
    try {
      patterns_.emplace_back(std::regex(pattern), type);
    } catch (const std::regex_error& e) {
      throw Error("--tensor-type", pattern, std::string("invalid regular expression: ") + e.what());
    }
  }
}

FormatId TypeChooser::fallback(const std::string& name, int64_t ncols, FormatId t, bool& fell_back) const {
  const int64_t qk = format_traits(t).block_size;
  if (ncols % qk == 0) return t;
  fell_back = true;
  FormatId r = t;
  switch (t) {
    case FormatId::IQ1_S: case FormatId::IQ1_M: case FormatId::IQ2_XXS: case FormatId::IQ2_XS:
    case FormatId::IQ2_S: case FormatId::IQ3_XXS: case FormatId::IQ3_S: case FormatId::IQ4_XS:
      r = FormatId::IQ4_NL; break;
    case FormatId::Q2_K: case FormatId::Q3_K: case FormatId::TQ1_0: case FormatId::TQ2_0:
      r = FormatId::Q4_0; break;
    case FormatId::Q4_K: r = FormatId::Q5_0; break;
    case FormatId::Q5_K: r = FormatId::Q5_1; break;
    case FormatId::Q6_K: r = FormatId::Q8_0; break;
    default:
      if (qk > 32) throw Error(name, std::string(format_traits(t).name), "no fallback type for rows of " + std::to_string(ncols));
  }
  // Rows not even a multiple of 32: llama.cpp keeps such a tensor in F16.
  if (ncols % format_traits(r).block_size != 0) r = FormatId::F16;
  return r;
}

FormatId TypeChooser::choose(const std::string& name, const std::vector<int64_t>& ne, FormatId current, bool& fell_back) {
  fell_back = false;
  if (!allows_quantization(name, ne)) return current;
  const Category c = category_of(name);
  if (o_.token_embedding_type && c == Category::TokenEmbd) return *o_.token_embedding_type;
  if (o_.output_tensor_type && c == Category::Output) return *o_.output_tensor_type;
  FormatId t = o_.target.default_type;
  if (!format_traits(t).is_quantized) return t;
  bool manual = false;
  if (const auto it = o_.tensor_types.find(name); it != o_.tensor_types.end()) {
    t = it->second;
    manual = true;
  }
  for (const auto& [re, type] : patterns_) {
    if (manual) break;
    if (std::regex_search(name, re)) {
      t = type;
      manual = true;
      break;
    }
  }
  if (!manual && !o_.pure) t = mix_rule(t, name, ne, c);
  return fallback(name, ne[0], t, fell_back);
}

FormatId TypeChooser::mix_rule(FormatId t, const std::string& name, const std::vector<int64_t>& ne, Category c) {
  using F = FormatId;
  const uint32_t ft = o_.target.file_type;
  const bool has_imatrix = o_.imatrix != nullptr;
  const int gqa = m_.n_gqa;
  const int n_expert = m_.n_expert;
  auto is = [&](std::initializer_list<uint32_t> l) {
    for (uint32_t x : l)
      if (x == ft) return true;
    return false;
  };
  (void)name;

  if (c == Category::Output || (m_.tied_embeddings && c == Category::TokenEmbd)) {
    if (o_.output_tensor_type) return *o_.output_tensor_type;
    const int64_t qk = format_traits(t).block_size;
    if (ft == MXFP4_MOE || ne[0] % qk != 0) return F::Q8_0;
    if (is({IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ2_S, IQ2_M, IQ1_M})) return F::Q5_K;
    if (t != F::Q8_0) return F::Q6_K;
    return t;
  }
  if (ft == MXFP4_MOE) return (ne.size() > 2 && ne[2] > 1) ? F::MXFP4 : F::Q8_0;
  if (c == Category::TokenEmbd) {
    if (o_.token_embedding_type) return *o_.token_embedding_type;
    if (is({IQ2_XXS, IQ2_XS, IQ1_S, IQ1_M})) return F::Q2_K;
    if (is({IQ2_S, IQ2_M, IQ3_XXS})) return F::IQ3_S;
    if (is({TQ1_0, TQ2_0})) return F::Q4_K;
    return t;
  }
  if (is({IQ2_XXS, IQ2_XS, IQ1_S, IQ2_S, IQ2_M, IQ1_M})) {
    if (is_attn_v_like(c)) {
      if (gqa >= 4 || n_expert >= 4) t = F::Q4_K;
      else t = is({IQ2_S, IQ2_M}) ? F::IQ3_S : F::Q2_K;
      ++i_attention_wv_;
    } else if (n_expert == 8 && c == Category::AttnK) {
      t = F::Q4_K;
    } else if (c == Category::FfnDown) {
      if (i_ffn_down_ < m_.n_layer / 8) t = is({IQ2_S, IQ2_M}) ? F::IQ3_S : F::Q2_K;
      ++i_ffn_down_;
    } else if (c == Category::AttnOutput) {
      if (n_expert == 8) t = F::Q5_K;
      else if (is({IQ1_S, IQ1_M})) t = F::IQ2_XXS;
      else if (is({IQ2_S, IQ2_M})) t = F::IQ3_S;
    }
    return t;
  }
  if (is_attn_v_like(c)) {
    if (ft == Q2_K) t = gqa >= 4 ? F::Q4_K : F::Q3_K;
    else if (ft == Q2_K_S && gqa >= 4) t = F::Q4_K;
    else if (ft == IQ3_XXS) t = gqa >= 4 ? F::Q4_K : !has_imatrix ? F::IQ3_S : F::IQ3_XXS;
    else if (is({IQ3_XS, IQ3_S}) && gqa >= 4) t = F::Q4_K;
    else if (ft == IQ3_M) t = F::Q4_K;
    else if (ft == Q3_K_M) t = i_attention_wv_ < 2 ? F::Q5_K : F::Q4_K;
    else if (ft == Q3_K_L) t = F::Q5_K;
    else if (is({IQ4_NL, IQ4_XS}) && gqa >= 4) t = F::Q5_K;
    else if (is({Q4_K_M, Q5_K_M}) && use_more_bits(i_attention_wv_, m_.n_attention_wv)) t = F::Q6_K;
    else if (ft == Q4_K_S && i_attention_wv_ < 4) t = F::Q5_K;
    // (llama.cpp also bumps Q3_K/Q4_K to Q5_K for 70B models, by model size class.)
    if (n_expert == 8) t = F::Q8_0;
    ++i_attention_wv_;
    return t;
  }
  if (c == Category::AttnK) {
    if (n_expert == 8) t = F::Q8_0;
    else if (ft == IQ3_XS) t = F::IQ3_XXS;
    else if (ft == IQ3_XXS) t = F::IQ2_S;
    return t;
  }
  if (c == Category::AttnQ) {
    if (ft == IQ3_XS) t = F::IQ3_XXS;
    else if (ft == IQ3_XXS) t = F::IQ2_S;
    return t;
  }
  if (c == Category::FfnDown) {
    const int i = i_ffn_down_, n = m_.n_layer;
    if (ft == Q2_K) t = F::Q3_K;
    else if (ft == Q2_K_S) { if (i < n / 8) t = F::Q4_K; }
    else if (ft == IQ3_XXS && !has_imatrix) t = i < n / 8 ? F::Q4_K : F::Q3_K;
    else if (ft == Q3_K_M) t = i < n / 16 ? F::Q5_K : F::Q4_K;  // non-Falcon: always the more-bits branch
    else if (ft == IQ3_M && (i < n / 8 || (n_expert == 8 && use_more_bits(i, n)))) t = F::Q4_K;
    else if (ft == Q3_K_L) t = F::Q5_K;
    else if (ft == Q4_K_M) { if (use_more_bits(i, n)) t = F::Q6_K; }
    else if (i < n / 8 && is({IQ4_NL, IQ4_XS}) && !has_imatrix) t = F::Q5_K;
    else if (ft == Q5_K_M && use_more_bits(i, n)) t = F::Q6_K;
    else if (ft == Q4_K_S && i < n / 8) t = F::Q5_K;
    else if (is({Q4_0, Q5_0}) && has_imatrix && i < n / 8) t = ft == Q4_0 ? F::Q4_1 : F::Q5_1;
    ++i_ffn_down_;
    return t;
  }
  if (c == Category::AttnOutput) {
    if (n_expert == 8) {
      if (is({Q2_K, IQ3_XS, IQ3_XXS, Q3_K_S, Q3_K_M, IQ4_NL, Q4_K_S, Q4_K_M, IQ3_S, IQ3_M, IQ4_XS})) t = F::Q5_K;
    } else {
      if (ft == Q2_K) t = F::Q3_K;
      else if (ft == IQ3_XXS) t = F::IQ3_S;
      else if (ft == Q3_K_M) t = F::Q4_K;
      else if (ft == Q3_K_L) t = F::Q5_K;
      else if (ft == IQ3_M) t = F::Q4_K;
    }
    return t;
  }
  if (c == Category::AttnQKV) {  // unreachable (attn_v-like above), kept as llama.cpp orders it
    return t;
  }
  if (c == Category::FfnGate || c == Category::FfnUp) {
    int& counter = c == Category::FfnGate ? i_ffn_gate_ : i_ffn_up_;
    const int i = counter, n = m_.n_layer;
    if (ft == IQ3_XS && i >= n / 8 && i < 7 * n / 8) t = F::IQ3_XXS;
    ++counter;
    return t;
  }
  return t;
}

}  // namespace quantlab::gguf_mix
