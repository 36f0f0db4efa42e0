#include "quantlab/embed/sentence_encoder.hpp"

#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/tensor_source.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

namespace quantlab {

namespace fs = std::filesystem;

namespace {

// One post-LayerNorm BERT layer's weights (views into the mapped checkpoint; vectors decoded).
struct EncoderLayer {
  WeightMatrix q, k, v, attn_out, ffn_in, ffn_out;
  std::vector<float> q_b, k_b, v_b, attn_out_b, attn_norm_w, attn_norm_b, ffn_in_b, ffn_out_b, out_norm_w, out_norm_b;
};

enum class Activation { GeluErf, GeluTanh, Relu };

std::optional<nlohmann::json> read_optional_json(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  return read_json_file(p.string());
}

void add_bias(float* x, const std::vector<float>& b, int64_t rows) {
  const int64_t n = int64_t(b.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) x[r * n + i] += b[size_t(i)];
}

// y = LayerNorm(x) per row, in place: mean and variance over the row (biased), then w * . + b.
void layer_norm(float* x, int64_t rows, const std::vector<float>& w, const std::vector<float>& b, float eps) {
  const int64_t n = int64_t(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += row[i];
    mean /= double(n);
    double var = 0;
    for (int64_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= double(n);
    const double inv = 1.0 / std::sqrt(var + double(eps));
    for (int64_t i = 0; i < n; ++i) row[i] = float((row[i] - mean) * inv) * w[size_t(i)] + b[size_t(i)];
  }
}

float activate(Activation a, float x) {
  switch (a) {
    case Activation::GeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
    case Activation::GeluTanh: {
      constexpr float kSqrt2OverPi = 0.79788456080286535588f;
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    }
    case Activation::Relu: return x > 0 ? x : 0.0f;
  }
  return x;
}

}  // namespace

struct SentenceEncoder::Impl {
  ThreadPool& pool;
  SentenceEncoderInfo info;
  std::unique_ptr<WeightSource> source;
  std::string weights_path;  // the file errors name (model.safetensors or its index), not the folder
  std::optional<Tokenizer> tokenizer;
  WeightMatrix word, position, token_type;
  std::vector<float> embed_norm_w, embed_norm_b;
  std::vector<EncoderLayer> layers;
  int64_t ffn = 0;
  float eps = 1e-12f;
  Activation activation = Activation::GeluErf;

  explicit Impl(ThreadPool& p) : pool(p) {}

  const TensorView& tensor(const std::string& name, std::vector<int64_t> shape) const {
    const TensorView& t = source->get(name);
    if (t.shape != shape) {
      auto dims = [](const std::vector<int64_t>& s) {
        std::string r = "[";
        for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
        return r + "]";
      };
      throw Error(weights_path, name, "shape " + dims(t.shape) + ", expected " + dims(shape));
    }
    if (!t.format || (*t.format != FormatId::F32 && *t.format != FormatId::F16 && *t.format != FormatId::BF16))
      throw Error(weights_path, name, "dtype " + t.dtype + ": the encoder reads F32, F16 or BF16 weights");
    return t;
  }
  WeightMatrix weight_matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorView& t = tensor(name, {rows, cols});
    WeightMatrix m = make_weight_matrix(*t.format, t.data, rows, cols);
    // A NaN or infinity would silently turn every embedding into NaN: refused here, naming the tensor.
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      row_to_f32(m.format, m.row(r), row.data(), cols);
      for (float x : row)
        if (!std::isfinite(x)) throw Error(weights_path, name, "non-finite value in row " + std::to_string(r));
    }
    return m;
  }
  std::vector<float> weight_vector(const std::string& name, int64_t n) const {
    const TensorView& t = tensor(name, {n});
    std::vector<float> v(static_cast<size_t>(n));
    row_to_f32(*t.format, t.data, v.data(), n);
    for (float x : v)
      if (!std::isfinite(x)) throw Error(weights_path, name, "non-finite value");
    return v;
  }

  void load(const std::string& folder) {
    info.folder = folder;
    const fs::path dir(folder);
    if (!fs::is_directory(dir)) throw Error(folder, "", "not a model folder (the sentence encoder reads a sentence-transformers or BERT folder)");
    const std::string config_path = (dir / "config.json").string();
    const nlohmann::json config = read_json_file(config_path);
    const std::string type = json_string(config, "model_type", config_path);
    if (type != "bert")
      throw Error(config_path, "model_type", "\"" + type + "\": the sentence encoder runs BERT models (e.g. all-MiniLM-L6-v2)");
    if (json_string(config, "position_embedding_type", config_path, "absolute") != "absolute")
      throw Error(config_path, "position_embedding_type", "only absolute position embeddings are supported");
    const std::string act = json_string(config, "hidden_act", config_path, "gelu");
    if (act == "gelu") activation = Activation::GeluErf;
    else if (act == "gelu_new" || act == "gelu_pytorch_tanh") activation = Activation::GeluTanh;
    else if (act == "relu") activation = Activation::Relu;
    else throw Error(config_path, "hidden_act", "\"" + act + "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)");
    const int64_t d = json_int(config, "hidden_size", config_path);
    info.dimension = d;
    info.layers = json_int(config, "num_hidden_layers", config_path);
    info.heads = json_int(config, "num_attention_heads", config_path);
    ffn = json_int(config, "intermediate_size", config_path);
    const int64_t vocab = json_int(config, "vocab_size", config_path);
    const int64_t max_positions = json_int(config, "max_position_embeddings", config_path);
    const int64_t type_vocab = json_int(config, "type_vocab_size", config_path, 2);
    eps = float(json_number(config, "layer_norm_eps", config_path, 1e-12));
    if (d <= 0 || info.heads <= 0 || d % info.heads != 0)
      throw Error(config_path, "num_attention_heads", "must divide hidden_size " + std::to_string(d));
    if (info.layers <= 0 || ffn <= 0 || vocab <= 0 || max_positions <= 0 || type_vocab <= 0 || !(eps > 0))
      throw Error(config_path, "", "hidden sizes, layer count, vocabulary, positions and layer_norm_eps must be positive");

    // sentence-transformers' modules: Transformer, then Pooling, then optionally Normalize.
    std::string pooling_dir = "1_Pooling";
    const std::string modules_path = (dir / "modules.json").string();
    if (auto modules = read_optional_json(modules_path)) {
      if (!modules->is_array()) throw Error(modules_path, "", "expected an array of modules");
      pooling_dir.clear();
      for (const nlohmann::json& m : *modules) {
        const std::string t = json_string(m, "type", modules_path);
        const std::string path = json_string(m, "path", modules_path, "");
        if (t == "sentence_transformers.models.Transformer") continue;
        if (t == "sentence_transformers.models.Pooling") pooling_dir = path;
        else if (t == "sentence_transformers.models.Normalize") info.normalize = true;
        else throw Error(modules_path, "type", "\"" + t + "\": only Transformer, Pooling and Normalize modules are supported");
      }
    }
    const std::string pooling_path = (dir / pooling_dir / "config.json").string();
    if (auto pool_config = pooling_dir.empty() ? std::nullopt : read_optional_json(pooling_path)) {
      const bool mean = json_bool(*pool_config, "pooling_mode_mean_tokens", pooling_path, false);
      const bool cls = json_bool(*pool_config, "pooling_mode_cls_token", pooling_path, false);
      const bool max = json_bool(*pool_config, "pooling_mode_max_tokens", pooling_path, false);
      const bool sqrt_len = json_bool(*pool_config, "pooling_mode_mean_sqrt_len_tokens", pooling_path, false);
      if (int(mean) + int(cls) + int(max) + int(sqrt_len) != 1)
        throw Error(pooling_path, "pooling_mode_*", "exactly one pooling mode must be on (concatenated modes are not supported)");
      info.pooling = mean ? SentencePooling::Mean : cls ? SentencePooling::Cls : max ? SentencePooling::Max : SentencePooling::MeanSqrtLength;
      if (json_int(*pool_config, "word_embedding_dimension", pooling_path, d) != d)
        throw Error(pooling_path, "word_embedding_dimension", "differs from config.json's hidden_size " + std::to_string(d));
    }
    info.max_seq_length = max_positions;
    const std::string st_path = (dir / "sentence_bert_config.json").string();
    if (auto st = read_optional_json(st_path)) {
      info.max_seq_length = json_int(*st, "max_seq_length", st_path, max_positions);
      if (info.max_seq_length < 2 || info.max_seq_length > max_positions)
        throw Error(st_path, "max_seq_length", "must be in [2, max_position_embeddings = " + std::to_string(max_positions) + "]");
      if (json_bool(*st, "do_lower_case", st_path, false))
        throw Error(st_path, "do_lower_case", "lower-casing before the tokenizer is not supported");
    }

    tokenizer.emplace(Tokenizer::load(folder));
    if (int64_t(tokenizer->vocab_size()) > vocab)
      throw Error(folder, "tokenizer", "has " + std::to_string(tokenizer->vocab_size()) + " tokens, the model " + std::to_string(vocab));
    if (!tokenizer->add_bos() || !tokenizer->add_eos())
      throw Error(folder, "tokenizer", "does not add [CLS] and [SEP] around a text (a BERT tokenizer does)");

    source = open_weight_source(folder);
    const auto* st = dynamic_cast<const SafetensorsSource*>(source.get());
    weights_path = st ? st->checkpoint().path() : source->path();
    const std::string p = source->find("bert.embeddings.word_embeddings.weight") ? "bert." : "";
    word = weight_matrix(p + "embeddings.word_embeddings.weight", vocab, d);
    position = weight_matrix(p + "embeddings.position_embeddings.weight", max_positions, d);
    token_type = weight_matrix(p + "embeddings.token_type_embeddings.weight", type_vocab, d);
    embed_norm_w = weight_vector(p + "embeddings.LayerNorm.weight", d);
    embed_norm_b = weight_vector(p + "embeddings.LayerNorm.bias", d);
    for (int64_t l = 0; l < info.layers; ++l) {
      const std::string b = p + "encoder.layer." + std::to_string(l) + ".";
      EncoderLayer L;
      L.q = weight_matrix(b + "attention.self.query.weight", d, d);
      L.k = weight_matrix(b + "attention.self.key.weight", d, d);
      L.v = weight_matrix(b + "attention.self.value.weight", d, d);
      L.attn_out = weight_matrix(b + "attention.output.dense.weight", d, d);
      L.ffn_in = weight_matrix(b + "intermediate.dense.weight", ffn, d);
      L.ffn_out = weight_matrix(b + "output.dense.weight", d, ffn);
      L.q_b = weight_vector(b + "attention.self.query.bias", d);
      L.k_b = weight_vector(b + "attention.self.key.bias", d);
      L.v_b = weight_vector(b + "attention.self.value.bias", d);
      L.attn_out_b = weight_vector(b + "attention.output.dense.bias", d);
      L.attn_norm_w = weight_vector(b + "attention.output.LayerNorm.weight", d);
      L.attn_norm_b = weight_vector(b + "attention.output.LayerNorm.bias", d);
      L.ffn_in_b = weight_vector(b + "intermediate.dense.bias", ffn);
      L.ffn_out_b = weight_vector(b + "output.dense.bias", d);
      L.out_norm_w = weight_vector(b + "output.LayerNorm.weight", d);
      L.out_norm_b = weight_vector(b + "output.LayerNorm.bias", d);
      layers.push_back(std::move(L));
    }
  }

  std::vector<int32_t> tokens(std::string_view text) const {
    // parse_special: the Hugging Face tokenizer sentence-transformers calls matches "[SEP]" typed in
    // a text as the special token, so the same text gives the same ids here.
    std::vector<int32_t> ids = tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/true);
    // As the Hugging Face tokenizer truncates: the text's tokens are cut, [SEP] stays last.
    if (int64_t(ids.size()) > info.max_seq_length) {
      const int32_t sep = ids.back();
      ids.resize(size_t(info.max_seq_length - 1));
      ids.push_back(sep);
    }
    return ids;
  }

  // Bidirectional multi-head attention of q, k, v ([t][d] each) into ctx [t][d].
  void attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v, int64_t t,
                 std::vector<float>& ctx) const {
    const int64_t d = info.dimension, hd = d / info.heads;
    const float scale = 1.0f / std::sqrt(float(hd));
    pool.parallel_for(info.heads * t, [&](int64_t begin, int64_t end, int) {
      std::vector<float> p(static_cast<size_t>(t));
      for (int64_t item = begin; item < end; ++item) {
        const int64_t h = item / t, i = item % t;
        const float* qi = q.data() + i * d + h * hd;
        for (int64_t j = 0; j < t; ++j) p[size_t(j)] = dot_f32(qi, k.data() + j * d + h * hd, hd) * scale;
        softmax(p.data(), t);
        float* out = ctx.data() + i * d + h * hd;
        std::fill(out, out + hd, 0.0f);
        for (int64_t j = 0; j < t; ++j) {
          const float w = p[size_t(j)];
          const float* vj = v.data() + j * d + h * hd;
          for (int64_t c = 0; c < hd; ++c) out[c] += w * vj[c];
        }
      }
    });
  }

  std::vector<float> encode(std::string_view text) const {
    const std::vector<int32_t> ids = tokens(text);
    const int64_t t = int64_t(ids.size()), d = info.dimension;
    std::vector<float> x(size_t(t * d)), row(static_cast<size_t>(d));
    for (int64_t i = 0; i < t; ++i) {
      float* xi = x.data() + i * d;
      row_to_f32(word.format, word.row(ids[size_t(i)]), xi, d);
      row_to_f32(position.format, position.row(i), row.data(), d);
      for (int64_t c = 0; c < d; ++c) xi[c] += row[size_t(c)];
      row_to_f32(token_type.format, token_type.row(0), row.data(), d);
      for (int64_t c = 0; c < d; ++c) xi[c] += row[size_t(c)];
    }
    layer_norm(x.data(), t, embed_norm_w, embed_norm_b, eps);

    std::vector<float> q(x.size()), k(x.size()), v(x.size()), ctx(x.size()), proj(x.size()), hidden(size_t(t * ffn));
    for (const EncoderLayer& L : layers) {
      matmul(pool, L.q, x.data(), t, q.data());
      matmul(pool, L.k, x.data(), t, k.data());
      matmul(pool, L.v, x.data(), t, v.data());
      add_bias(q.data(), L.q_b, t);
      add_bias(k.data(), L.k_b, t);
      add_bias(v.data(), L.v_b, t);
      attention(q, k, v, t, ctx);
      matmul(pool, L.attn_out, ctx.data(), t, proj.data());
      add_bias(proj.data(), L.attn_out_b, t);
      for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
      layer_norm(x.data(), t, L.attn_norm_w, L.attn_norm_b, eps);
      matmul(pool, L.ffn_in, x.data(), t, hidden.data());
      add_bias(hidden.data(), L.ffn_in_b, t);
      for (float& h : hidden) h = activate(activation, h);
      matmul(pool, L.ffn_out, hidden.data(), t, proj.data());
      add_bias(proj.data(), L.ffn_out_b, t);
      for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
      layer_norm(x.data(), t, L.out_norm_w, L.out_norm_b, eps);
    }
    return pool_and_normalize(x, t);
  }

  std::vector<float> pool_and_normalize(const std::vector<float>& x, int64_t t) const {
    const int64_t d = info.dimension;
    std::vector<float> e(static_cast<size_t>(d));
    if (info.pooling == SentencePooling::Cls) {
      std::copy(x.begin(), x.begin() + d, e.begin());
    } else if (info.pooling == SentencePooling::Max) {
      for (int64_t c = 0; c < d; ++c) {
        float m = x[size_t(c)];
        for (int64_t i = 1; i < t; ++i) m = std::max(m, x[size_t(i * d + c)]);
        e[size_t(c)] = m;
      }
    } else {
      const double divisor = info.pooling == SentencePooling::Mean ? double(t) : std::sqrt(double(t));
      for (int64_t c = 0; c < d; ++c) {
        double s = 0;
        for (int64_t i = 0; i < t; ++i) s += x[size_t(i * d + c)];
        e[size_t(c)] = float(s / divisor);
      }
    }
    if (info.normalize) {
      double n2 = 0;
      for (float v : e) n2 += double(v) * v;
      // torch.nn.functional.normalize: divide by max(norm, 1e-12).
      const double n = std::max(std::sqrt(n2), 1e-12);
      for (float& v : e) v = float(v / n);
    }
    return e;
  }
};

SentenceEncoder::SentenceEncoder(const std::string& folder, ThreadPool& pool) : impl_(std::make_unique<Impl>(pool)) {
  impl_->load(folder);
}
SentenceEncoder::~SentenceEncoder() = default;
SentenceEncoder::SentenceEncoder(SentenceEncoder&&) noexcept = default;

const SentenceEncoderInfo& SentenceEncoder::info() const { return impl_->info; }
std::vector<int32_t> SentenceEncoder::tokens(std::string_view text) const { return impl_->tokens(text); }
std::vector<float> SentenceEncoder::encode(std::string_view text) const { return impl_->encode(text); }
std::vector<std::vector<float>> SentenceEncoder::encode(const std::vector<std::string>& texts) const {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(impl_->encode(t));
  return out;
}

namespace {
void check_same_length(const char* what, const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    throw Error(what, "", "vectors of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " values");
}
}  // namespace

double l1_distance(const std::vector<float>& a, const std::vector<float>& b) {
  check_same_length("L1 distance", a, b);
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) - double(b[i]));
  return a.empty() ? 0.0 : s / double(a.size());
}

double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b) {
  check_same_length("cosine similarity", a, b);
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

}  // namespace quantlab
