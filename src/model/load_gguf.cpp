// Llama-family models from GGUF files, with llama.cpp's metadata keys and tensor names.
// GGUF llama-arch files hold Q/K rows permuted by the converter so that the "normal" (adjacent
// pairs) rotary style applies; qwen2/qwen3/gemma3 keep Hugging Face's layout and use NeoX style.
// gemma3 norms are stored as llama.cpp's converter writes them, with Gemma's "+1" already added,
// so every RMSNorm is the plain x/rms(x) * weight.
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/model/model.hpp"
#include "src/model/assemble_weights.hpp"

#include "quantlab/core/mapped_file.hpp"

#include <cmath>
#include <memory>
#include <string>

namespace quantlab {
namespace {

class GgufModelReader {
 public:
  explicit GgufModelReader(std::shared_ptr<const GgufFile> f) : f_(std::move(f)) {}

  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const GgufTensorInfo& t = tensor(name);
    if (t.ne.size() < 2 || t.ne[0] != cols || t.ne[1] != rows || (t.ne.size() > 2 && t.n_elements() != rows * cols))
      throw Error(f_->path(), name, "shape " + shape(t) + ", expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
    const auto* fmt = find_format(t.type);
    if (!fmt || !fmt->to_float)
      throw Error(f_->path(), name, "tensor type " + (fmt ? std::string(fmt->name) : std::to_string(uint32_t(t.type))) +
                                        " cannot be computed with (no decoder)");
    return make_weight_matrix(t.type, f_->tensor_data(t), rows, cols);
  }

  std::vector<float> vec(const std::string& name, int64_t n) const {
    const GgufTensorInfo& t = tensor(name);
    if (t.n_elements() != n) throw Error(f_->path(), name, "shape " + shape(t) + ", expected " + std::to_string(n) + " values");
    const auto* fmt = find_format(t.type);
    if (!fmt || !fmt->to_float) throw Error(f_->path(), name, "tensor type cannot be decoded");
    std::vector<float> out(static_cast<size_t>(n));
    fmt->to_float(f_->tensor_data(t), out.data(), n);
    release_mapped_pages(f_->tensor_data(t), size_t(t.nbytes));
    return out;
  }

  bool has(const std::string& name) const { return f_->find_tensor(name) != nullptr; }

 private:
  const GgufTensorInfo& tensor(const std::string& name) const {
    const GgufTensorInfo* t = f_->find_tensor(name);
    if (!t) throw Error(f_->path(), name, "tensor missing");
    return *t;
  }
  static std::string shape(const GgufTensorInfo& t) {
    std::string s = "[";
    for (size_t i = 0; i < t.ne.size(); ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
    return s + "]";
  }
  std::shared_ptr<const GgufFile> f_;
};

// Gemma 3 as llama.cpp's llama_model_gemma3 reads it: the sliding window (absent or 0: every
// layer global), its layer pattern (a per-layer bool array or a period, default 6: five local
// layers then one global), the local layers' RoPE base (default 10000, scale 1), optional final
// logit soft-capping, and an attention scale of key_length^-1/2 applied to Q.
void read_gemma3_options(const GgufFile& f, const std::string& a, ModelConfig& c) {
  const std::string& path = f.path();
  c.embd_scale = std::sqrt(float(c.n_embd));
  c.post_norms = true;
  c.ffn_act = FfnActivation::GeluTanh;
  // llama.cpp uses n_embd / n_head instead for its 27B (62 layers), after gemma_pytorch.
  c.attn_q_scale = 1.0f / std::sqrt(float(c.n_layer == 62 ? c.n_embd / c.n_head : c.head_dim));
  c.n_swa = f.get_int(a + "attention.sliding_window", 0);
  if (c.n_swa < 0) throw Error(path, a + "attention.sliding_window", "must not be negative");
  if (c.n_swa > 0) {
    const std::string key = a + "attention.sliding_window_pattern";
    const GgufValue* v = f.find(key);
    if (v && v->type == GgufType::ARRAY) {
      const GgufArray& arr = v->as_array(path, key);
      if (int64_t(arr.items.size()) != c.n_layer)
        throw Error(path, key, std::to_string(arr.items.size()) + " entries, expected one per layer (" +
                                   std::to_string(c.n_layer) + ")");
      for (const GgufValue& item : arr.items) c.swa_layers.push_back(item.as_bool(path, key) ? 1 : 0);
    } else {
      const int64_t period = v ? v->as_int(path, key) : 6;
      if (period < 0) throw Error(path, key, "must not be negative");
      c.swa_layers = swa_pattern(c.n_layer, period);
    }
    c.rope_freq_base_swa = float(f.get_double(a + "rope.freq_base_swa", 10000.0));
  }
  c.final_logit_softcap = float(f.get_double(a + "final_logit_softcapping", 0.0));
}

}  // namespace

Model load_gguf_model(const std::string& path) {
  auto file = std::make_shared<const GgufFile>(path);
  const GgufFile& f = *file;
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3" && arch != "gemma3")
    throw Error(path, "general.architecture", "'" + arch + "' is not supported (llama, qwen2, qwen3, gemma3)");
  const std::string a = arch + ".";

  Model m;
  m.source = path;
  m.source_format = "gguf";
  ModelConfig& c = m.config;
  c.arch = arch;
  c.n_layer = f.get_int(a + "block_count");
  c.n_embd = f.get_int(a + "embedding_length");
  c.n_ff = f.get_int(a + "feed_forward_length");
  c.n_head = f.get_int(a + "attention.head_count");
  c.n_head_kv = f.get_int(a + "attention.head_count_kv", c.n_head);
  if (c.n_head <= 0) throw Error(path, a + "attention.head_count", "must be positive");
  c.head_dim = f.get_int(a + "attention.key_length", c.n_embd / c.n_head);
  if (f.get_int(a + "attention.value_length", c.head_dim) != c.head_dim)
    throw Error(path, a + "attention.value_length", "differs from key_length (not supported)");
  c.n_ctx_train = f.get_int(a + "context_length", 0);
  c.rms_eps = float(f.get_double(a + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_style = arch == "llama" ? RopeStyle::Normal : RopeStyle::NeoX;
  c.n_rot = f.get_int(a + "rope.dimension_count", c.head_dim);
  c.rope_freq_base = float(f.get_double(a + "rope.freq_base", 10000.0));
  const std::string scaling = f.get_string(a + "rope.scaling.type", std::string("none"));
  if (scaling == "linear") {
    const double factor = f.get_double(a + "rope.scaling.factor", 1.0);
    if (!(factor > 0)) throw Error(path, a + "rope.scaling.factor", "must be positive");
    c.rope_freq_scale = float(1.0 / factor);
  } else if (scaling != "none") {
    throw Error(path, a + "rope.scaling.type", "'" + scaling + "' is not supported (none, linear)");
  }
  if (arch == "gemma3") read_gemma3_options(f, a, c);
  c.bos_id = int32_t(f.get_token_id("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_id = int32_t(f.get_token_id("tokenizer.ggml.eos_token_id").value_or(-1));
  const std::string tok_model = f.get_string("tokenizer.ggml.model", std::string("llama"));
  if (const GgufValue* v = f.find("tokenizer.ggml.add_bos_token")) c.add_bos = v->as_bool(path, "tokenizer.ggml.add_bos_token");
  else c.add_bos = tok_model == "llama";  // llama.cpp's default: SentencePiece vocabularies add BOS

  GgufModelReader r(file);
  // The vocabulary size is the embedding's row count (token lists may be absent in test files).
  const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb || emb->ne.size() < 2) throw Error(path, "token_embd.weight", "tensor missing or not a matrix");
  c.n_vocab = emb->ne[1];
  c.qk_norm = arch == "gemma3" || r.has("blk.0.attn_q_norm.weight");
  c.qkv_bias = r.has("blk.0.attn_q.bias");
  c.tied_embeddings = !r.has("output.weight");
  if (r.has("rope_freqs.weight")) c.rope_freq_factors = r.vec("rope_freqs.weight", c.n_rot / 2);
  c.validate(path);

  detail::assemble_weights(m, r, detail::gguf_tensor_names());
  m.storage = file;
  return m;
}

}  // namespace quantlab
