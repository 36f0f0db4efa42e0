#include "quantlab/io/llama2c.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"

#include <cmath>
#include <cstring>

namespace quantlab {
namespace {

constexpr int32_t kMaxDim = 1 << 20;  // far above any real model; keeps size arithmetic in range

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Number of f32 values the header implies, or nullopt if it does not fit in 2^50 bytes.
uint64_t expected_floats(const Llama2cConfig& c) {
  const uint64_t dim = uint64_t(c.dim), hid = uint64_t(c.hidden_dim), L = uint64_t(c.n_layers);
  const uint64_t vocab = uint64_t(c.vocab_size), kv = uint64_t(c.kv_dim()), seq = uint64_t(c.seq_len);
  const uint64_t hs = uint64_t(c.head_size());
  uint64_t n = vocab * dim;                          // token_embedding
  n += L * dim;                                      // rms_att
  n += L * dim * dim * 2 + L * dim * kv * 2;         // wq, wo; wk, wv
  n += L * dim;                                      // rms_ffn
  n += L * hid * dim * 3;                            // w1, w2, w3
  n += dim;                                          // rms_final
  n += seq * hs;                                     // freq_cis_real + imag (seq * hs/2 each)
  if (!c.shared_classifier) n += vocab * dim;
  return n;
}

}  // namespace

int64_t Llama2cTensor::n_elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Llama2cConfig parse_llama2c_header(const std::string& source, const uint8_t* data, size_t size) try {
  static const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  if (size < 28) throw Error(source, size < 4 ? "dim" : names[size / 4], "truncated header: file of " + std::to_string(size) + " bytes, the header takes 28");
  int32_t v[7];
  for (int i = 0; i < 7; ++i) v[i] = read_i32(data + 4 * i);
  Llama2cConfig c;
  c.dim = v[0], c.hidden_dim = v[1], c.n_layers = v[2], c.n_heads = v[3], c.n_kv_heads = v[4], c.seq_len = v[6];
  c.shared_classifier = v[5] > 0;
  c.vocab_size = v[5] == INT32_MIN ? 0 : std::abs(v[5]);
  for (int i = 0; i < 7; ++i) {
    const int32_t x = i == 5 ? c.vocab_size : v[i];
    if (x <= 0 || x > kMaxDim) throw Error(source, names[i], "value " + std::to_string(v[i]) + " is not in 1.." + std::to_string(kMaxDim));
  }
  if (c.dim % c.n_heads != 0) throw Error(source, "n_heads", std::to_string(c.n_heads) + " does not divide dim " + std::to_string(c.dim));
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
    throw Error(source, "n_kv_heads", std::to_string(c.n_kv_heads) + " does not divide n_heads " + std::to_string(c.n_heads));
  if (c.head_size() % 2 != 0) throw Error(source, "n_heads", "head size " + std::to_string(c.head_size()) + " is odd (RoPE needs pairs)");
  const uint64_t floats = expected_floats(c);
  if (floats > (uint64_t(1) << 48)) throw Error(source, "header", "implies an implausibly large model");
  const uint64_t want = 28 + floats * 4;
  if (size != want)
    throw Error(source, "size", "file has " + std::to_string(size) + " bytes, the header implies " + std::to_string(want) +
                                    (c.shared_classifier ? " (shared classifier)" : " (with a separate classifier)"));
  return c;
} catch (...) {
  rethrow_as_error(source, "header");
}

Llama2cCheckpoint::Llama2cCheckpoint(const std::string& path) try : file_(path) {
  config_ = parse_llama2c_header(path, file_.data(), file_.size());
  const Llama2cConfig& c = config_;
  const float* p = reinterpret_cast<const float*>(file_.data() + 28);  // 28 is a multiple of 4; mmap is page aligned
  const int64_t dim = c.dim, hid = c.hidden_dim, kv = c.kv_dim(), vocab = c.vocab_size, L = c.n_layers;
  auto take = [&](std::vector<int64_t> shape) {
    const float* at = p;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    p += n;
    return at;
  };
  // The file groups each kind of weight across layers; views are per layer.
  const float* emb = take({vocab, dim});
  const float* rms_att = take({L, dim});
  const float* wq = take({L, dim, dim});
  const float* wk = take({L, kv, dim});
  const float* wv = take({L, kv, dim});
  const float* wo = take({L, dim, dim});
  const float* rms_ffn = take({L, dim});
  const float* w1 = take({L, hid, dim});
  const float* w2 = take({L, dim, hid});
  const float* w3 = take({L, hid, dim});
  const float* rms_final = take({dim});
  const float* fr = take({c.seq_len, c.head_size() / 2});
  const float* fi = take({c.seq_len, c.head_size() / 2});
  const float* wcls = c.shared_classifier ? nullptr : take({vocab, dim});

  tensors_.push_back({"tok_embeddings.weight", {vocab, dim}, emb});
  for (int64_t l = 0; l < L; ++l) {
    const std::string pre = "layers." + std::to_string(l) + ".";
    tensors_.push_back({pre + "attention_norm.weight", {dim}, rms_att + l * dim});
    tensors_.push_back({pre + "attention.wq.weight", {dim, dim}, wq + l * dim * dim});
    tensors_.push_back({pre + "attention.wk.weight", {kv, dim}, wk + l * kv * dim});
    tensors_.push_back({pre + "attention.wv.weight", {kv, dim}, wv + l * kv * dim});
    tensors_.push_back({pre + "attention.wo.weight", {dim, dim}, wo + l * dim * dim});
    tensors_.push_back({pre + "ffn_norm.weight", {dim}, rms_ffn + l * dim});
    tensors_.push_back({pre + "feed_forward.w1.weight", {hid, dim}, w1 + l * hid * dim});
    tensors_.push_back({pre + "feed_forward.w2.weight", {dim, hid}, w2 + l * dim * hid});
    tensors_.push_back({pre + "feed_forward.w3.weight", {hid, dim}, w3 + l * hid * dim});
  }
  tensors_.push_back({"norm.weight", {dim}, rms_final});
  tensors_.push_back({"freqs_cos", {c.seq_len, c.head_size() / 2}, fr});
  tensors_.push_back({"freqs_sin", {c.seq_len, c.head_size() / 2}, fi});
  if (wcls) tensors_.push_back({"output.weight", {vocab, dim}, wcls});
} catch (...) {
  rethrow_as_error(path, "");
}

const Llama2cTensor* Llama2cCheckpoint::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

Llama2cVocab parse_llama2c_tokenizer(const std::string& source, const uint8_t* data, size_t size, std::optional<int32_t> vocab_size) try {
  if (vocab_size && *vocab_size <= 0) throw Error(source, "vocab_size", "must be positive");
  if (size < 4) throw Error(source, "max_token_length", "truncated: file of " + std::to_string(size) + " bytes");
  Llama2cVocab v;
  v.max_token_length = read_i32(data);
  if (v.max_token_length <= 0 || v.max_token_length > (1 << 16))
    throw Error(source, "max_token_length", "value " + std::to_string(v.max_token_length) + " is not in 1..65536");
  size_t pos = 4;
  while (vocab_size ? v.pieces.size() < size_t(*vocab_size) : pos < size) {
    const std::string field = "token " + std::to_string(v.pieces.size());
    if (size - pos < 8) throw Error(source, field, "truncated at offset " + std::to_string(pos) + ": score and length need 8 bytes");
    float score;
    std::memcpy(&score, data + pos, 4);
    const int32_t len = read_i32(data + pos + 4);
    pos += 8;
    if (std::isnan(score)) throw Error(source, field + " score", "is NaN");
    if (len < 0 || len > v.max_token_length)
      throw Error(source, field + " length", std::to_string(len) + " is not in 0..max_token_length (" + std::to_string(v.max_token_length) + ")");
    if (size_t(len) > size - pos) throw Error(source, field, "truncated at offset " + std::to_string(pos) + ": piece of " + std::to_string(len) + " bytes");
    v.pieces.emplace_back(reinterpret_cast<const char*>(data + pos), size_t(len));
    v.scores.push_back(score);
    pos += size_t(len);
  }
  if (pos != size)
    throw Error(source, "size", std::to_string(size - pos) + " bytes after the last of " + std::to_string(v.pieces.size()) + " tokens");
  if (v.pieces.empty()) throw Error(source, "tokens", "no tokens");
  return v;
} catch (...) {
  rethrow_as_error(source, "");
}

Llama2cVocab read_llama2c_tokenizer(const std::string& path, std::optional<int32_t> vocab_size) try {
  MappedFile f(path);
  return parse_llama2c_tokenizer(path, f.data(), f.size(), vocab_size);
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab
