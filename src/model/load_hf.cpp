// Llama-family models from Hugging Face folders (config.json + safetensors). Hugging Face keeps
// Q/K rows in their original order and rotates halves (rotate_half), so every architecture here
// runs with NeoX-style RoPE and no permutation (llama.cpp's converter permutes llama Q/K instead).
//
// Quantized folders (config.json with a quantization_config: GPTQ, AWQ, bitsandbytes NF4/FP4/int8,
// compressed-tensors pack-quantized, whoever wrote them) load too: the format registry's export
// layout that claims the config decodes each linear to f32 (formats/export_layouts.hpp). A folder
// quantlab exported from a GGUF/llama2.c llama (config.json "quantlab_model": the source's Q/K rows
// were interleaved) gets its rows moved back and runs with the source's rotary style, so it
// computes the in-memory quantized model's logits bit for bit.
#include "quantlab/core/error.hpp"
#include "quantlab/formats/export_layouts.hpp"
#include "quantlab/io/tensor_source.hpp"
#include "quantlab/model/model.hpp"
#include "src/model/assemble_weights.hpp"

#include "quantlab/core/mapped_file.hpp"

#include <deque>
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

// The model's own f32 buffers (decoded quantized linears) beside the mapped source.
struct HfStorage {
  std::shared_ptr<const SafetensorsSource> source;
  std::deque<std::vector<float>> buffers;  // deque: adding one never moves the others
};

// How a quantized folder's linears are stored.
struct QuantizedLinears {
  const ExportLayoutTraits* layout = nullptr;
  ExportLayoutParams params;
  // quantlab exports of llama GGUF/llama2.c models: Q/K rows (and biases) are in Hugging Face's
  // order in the file and go back to the source's interleaved order here.
  bool interleaved_rope = false;
  int64_t head_dim = 0;
};

bool is_rotary(const std::string& name) {
  return name.find("self_attn.q_proj.") != std::string::npos || name.find("self_attn.k_proj.") != std::string::npos;
}

class HfTensors {
 public:
  HfTensors(const WeightSource& s, HfStorage& storage, QuantizedLinears q) : s_(s), storage_(storage), q_(q) {}
  bool has(const std::string& name) const { return s_.find(name) != nullptr; }
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
    if (q_.layout && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      const std::string module = name.substr(0, name.size() - 7);
      if (s_.find(module + std::string(q_.layout->probe_suffix)))
        return adopt(q_.layout->decode(lookup(), s_.path(), module, rows, cols, q_.params), name, rows, cols);
    }
    const TensorView& t = s_.get(name);
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
      throw Error(s_.path(), name, "shape " + shape(t) + ", expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    if (q_.interleaved_rope && is_rotary(name)) {
      std::vector<float> v(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r) row_to_f32(format(t), t.data + size_t(r) * row_bytes(format(t), cols), v.data() + r * cols, cols);
      return adopt(std::move(v), name, rows, cols);
    }
    return make_weight_matrix(format(t), t.data, rows, cols);
  }
  std::vector<float> vec(const std::string& name, int64_t n) const {
    const TensorView& t = s_.get(name);
    if (t.n_elements() != n) throw Error(s_.path(), name, "shape " + shape(t) + ", expected " + std::to_string(n) + " values");
    std::vector<float> out(static_cast<size_t>(n));
    row_to_f32(format(t), t.data, out.data(), n);
    release_mapped_pages(t.data, t.nbytes);
    if (q_.interleaved_rope && is_rotary(name)) out = to_interleaved(out, 1);
    return out;
  }

 private:
  // Hugging Face row h of a rotary matrix holds the interleaved source's row r (hf_row_of_gguf_row).
  std::vector<float> to_interleaved(const std::vector<float>& v, int64_t cols) const {
    std::vector<float> out(v.size());
    const int64_t rows = int64_t(v.size()) / cols;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = hf_row_of_gguf_row(r, q_.head_dim);
      std::copy_n(v.begin() + h * cols, cols, out.begin() + r * cols);
    }
    return out;
  }
  WeightMatrix adopt(std::vector<float> v, const std::string& name, int64_t rows, int64_t cols) const {
    if (q_.interleaved_rope && is_rotary(name)) v = to_interleaved(v, cols);
    storage_.buffers.push_back(std::move(v));
    return make_weight_matrix(FormatId::F32, storage_.buffers.back().data(), rows, cols);
  }
  StoredTensorLookup lookup() const {
    return [this](const std::string& name) -> std::optional<StoredTensor> {
      const TensorView* t = s_.find(name);
      if (!t) return std::nullopt;
      return StoredTensor{t->dtype, t->shape, t->data, t->nbytes};
    };
  }
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
  HfStorage& storage_;
  QuantizedLinears q_;
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
  QuantizedLinears quantized;
  if (const auto* qc = cfg.find("quantization_config")) {
    quantized.layout = &export_layout_for(*qc, cfg.path());
    quantized.params = quantized.layout->read_config(*qc, cfg.path());
    m.source_format = std::string(quantized.layout->name);
  }
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
  // quantlab's exports say what their source was (the rows' rotary order, BOS use).
  if (const auto* qm = cfg.find("quantlab_model")) {
    if (!qm->is_object()) throw Error(cfg.path(), "quantlab_model", "expected an object");
    auto flag = [&](const char* key) {
      auto it = qm->find(key);
      if (it == qm->end() || !it->is_boolean()) throw Error(cfg.path(), std::string("quantlab_model.") + key, "expected true or false");
      return it->get<bool>();
    };
    c.add_bos = flag("add_bos");
    quantized.interleaved_rope = flag("rope_interleaved_in_source");
    if (quantized.interleaved_rope) c.rope_style = RopeStyle::Normal;
    quantized.head_dim = c.head_dim;
  }

  auto storage = std::make_shared<HfStorage>();
  storage->source = source;
  HfTensors t(*source, *storage, quantized);
  c.qkv_bias = t.has("model.layers.0.self_attn.q_proj.bias");
  c.qk_norm = t.has("model.layers.0.self_attn.q_norm.weight");
  if (!c.tied_embeddings && !t.has("lm_head.weight")) c.tied_embeddings = true;
  c.validate(cfg.path());

  detail::assemble_weights(m, t, detail::hf_tensor_names());
  m.storage = storage;
  return m;
}

}  // namespace quantlab
