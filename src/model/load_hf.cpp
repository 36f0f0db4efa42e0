// Llama-family models from Hugging Face folders (config.json + safetensors). Hugging Face keeps
// Q/K rows in their original order and rotates halves (rotate_half), so every architecture here
// runs with NeoX-style RoPE and no permutation (llama.cpp's converter permutes llama Q/K instead).
#include "quantlab/core/error.hpp"
#include "quantlab/io/tensor_source.hpp"
#include "quantlab/model/model.hpp"
#include "src/model/assemble_weights.hpp"

#include <memory>
#include <string>

namespace quantlab {
namespace {

class HfConfig {
 public:
  explicit HfConfig(const JsonFile& f) : f_(f) {}
  const nlohmann::json* find(const std::string& key) const {
    auto it = f_.json.find(key);
    return it == f_.json.end() || it->is_null() ? nullptr : &*it;
  }
  int64_t get_int(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
    const auto* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      throw Error(f_.path, key, "missing");
    }
    if (!v->is_number_integer()) throw Error(f_.path, key, "expected an integer");
    return v->get<int64_t>();
  }
  double get_double(const std::string& key, double fallback) const {
    const auto* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) throw Error(f_.path, key, "expected a number");
    return v->get<double>();
  }
  bool get_bool(const std::string& key, bool fallback) const {
    const auto* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw Error(f_.path, key, "expected true or false");
    return v->get<bool>();
  }
  // eos_token_id may be a list; the first entry is the one generation stops at by default.
  int32_t token_id(const std::string& key) const {
    const auto* v = find(key);
    if (!v) return -1;
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) return (*v)[0].get<int32_t>();
    if (v->is_number_integer()) return v->get<int32_t>();
    throw Error(f_.path, key, "expected a token id");
  }
  const std::string& path() const { return f_.path; }

 private:
  const JsonFile& f_;
};

class HfTensors {
 public:
  explicit HfTensors(const WeightSource& s) : s_(s) {}
  bool has(const std::string& name) const { return s_.find(name) != nullptr; }
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorView& t = s_.get(name);
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
      throw Error(s_.path(), name, "shape " + shape(t) + ", expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    return make_weight_matrix(format(t), t.data, rows, cols);
  }
  std::vector<float> vec(const std::string& name, int64_t n) const {
    const TensorView& t = s_.get(name);
    if (t.n_elements() != n) throw Error(s_.path(), name, "shape " + shape(t) + ", expected " + std::to_string(n) + " values");
    std::vector<float> out(static_cast<size_t>(n));
    row_to_f32(format(t), t.data, out.data(), n);
    return out;
  }

 private:
  FormatId format(const TensorView& t) const {
    if (!t.format || (*t.format != FormatId::F32 && *t.format != FormatId::F16 && *t.format != FormatId::BF16))
      throw Error(s_.path(), t.name, "dtype " + t.dtype + " is not supported here (F32, F16, BF16)");
    return *t.format;
  }
  static std::string shape(const TensorView& t) {
    std::string s = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
    return s + "]";
  }
  const WeightSource& s_;
};

}  // namespace

Model load_hf_model(const std::string& dir) {
  auto source = std::make_shared<const SafetensorsSource>(dir);
  const HfModelDir* hf = source->hf();
  if (!hf) throw Error(dir, "config.json", "not a Hugging Face model folder");
  const std::string type = hf->model_type();
  if (type != "llama" && type != "mistral" && type != "qwen2" && type != "qwen3")
    throw Error(hf->config.path, "model_type", "'" + type + "' is not supported (llama, mistral, qwen2, qwen3)");
  const HfConfig cfg(hf->config);

  Model m;
  m.source = dir;
  m.source_format = "hf";
  ModelConfig& c = m.config;
  c.arch = type == "mistral" ? "llama" : type;
  c.n_layer = cfg.get_int("num_hidden_layers");
  c.n_embd = cfg.get_int("hidden_size");
  c.n_ff = cfg.get_int("intermediate_size");
  c.n_head = cfg.get_int("num_attention_heads");
  c.n_head_kv = cfg.get_int("num_key_value_heads", c.n_head);
  if (c.n_head <= 0) throw Error(cfg.path(), "num_attention_heads", "must be positive");
  c.head_dim = cfg.get_int("head_dim", c.n_embd / c.n_head);
  c.n_vocab = cfg.get_int("vocab_size");
  c.n_ctx_train = cfg.get_int("max_position_embeddings", 0);
  c.rms_eps = float(cfg.get_double("rms_norm_eps", 1e-6));
  c.rope_style = RopeStyle::NeoX;
  c.n_rot = c.head_dim;
  c.rope_freq_base = float(cfg.get_double("rope_theta", 10000.0));
  if (const auto* rs = cfg.find("rope_scaling")) {
    if (!rs->is_object()) throw Error(cfg.path(), "rope_scaling", "expected an object");
    const std::string kind = rs->value("rope_type", rs->value("type", std::string("default")));
    auto num = [&](const char* key, double fallback) {
      auto it = rs->find(key);
      if (it == rs->end()) return fallback;
      if (!it->is_number()) throw Error(cfg.path(), std::string("rope_scaling.") + key, "expected a number");
      return it->get<double>();
    };
    if (kind == "llama3") {
      c.rope_freq_factors = llama3_rope_freq_factors(c.n_rot, c.rope_freq_base, float(num("factor", 8.0)),
                                                     float(num("low_freq_factor", 1.0)), float(num("high_freq_factor", 4.0)),
                                                     int64_t(num("original_max_position_embeddings", 8192)));
    } else if (kind == "linear") {
      const double factor = num("factor", 1.0);
      if (!(factor > 0)) throw Error(cfg.path(), "rope_scaling.factor", "must be positive");
      c.rope_freq_scale = float(1.0 / factor);
    } else if (kind != "default") {
      throw Error(cfg.path(), "rope_scaling.rope_type", "'" + kind + "' is not supported (llama3, linear)");
    }
  }
  c.tied_embeddings = cfg.get_bool("tie_word_embeddings", false);
  c.bos_id = cfg.token_id("bos_token_id");
  c.eos_id = cfg.token_id("eos_token_id");
  bool add_bos = c.arch == "llama";  // Llama/Mistral tokenizers add BOS; Qwen's do not
  if (hf->tokenizer_config) {
    auto it = hf->tokenizer_config->json.find("add_bos_token");
    if (it != hf->tokenizer_config->json.end() && it->is_boolean()) add_bos = it->get<bool>();
  }
  c.add_bos = add_bos;

  HfTensors t(*source);
  c.qkv_bias = t.has("model.layers.0.self_attn.q_proj.bias");
  c.qk_norm = t.has("model.layers.0.self_attn.q_norm.weight");
  if (!c.tied_embeddings && !t.has("lm_head.weight")) c.tied_embeddings = true;
  c.validate(cfg.path());

  detail::assemble_weights(m, t, detail::hf_tensor_names());
  m.storage = source;
  return m;
}

}  // namespace quantlab
