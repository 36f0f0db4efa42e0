#pragma once
// llama2.c checkpoints (Karpathy's legacy "version 0" .bin): a header of 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
// means the classifier is stored separately instead of shared with the embedding), then f32
// arrays: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
// freq_cis_real, freq_cis_imag [, wcls]. The file size must match the header exactly.
//
// And the llama2.c tokenizer.bin: int32 max_token_length, then per token f32 score, int32 length
// and the piece's bytes. The number of tokens is not stored: it is the model's vocab_size, or
// whatever the file holds up to its end.
#include "quantlab/core/mapped_file.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct Llama2cConfig {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int32_t head_size() const { return dim / n_heads; }
  int32_t kv_dim() const { return head_size() * n_kv_heads; }
};

struct Llama2cTensor {
  std::string name;            // Meta/llama2.c export names: "layers.0.attention.wq.weight", ...
  std::vector<int64_t> shape;  // PyTorch order ([out, in] for linear weights)
  const float* data;           // into the mapping; f32, little-endian
  int64_t n_elements() const;
};

class Llama2cCheckpoint {
 public:
  explicit Llama2cCheckpoint(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const Llama2cConfig& config() const { return config_; }
  // tok_embeddings.weight, then per layer attention_norm, attention.w{q,k,v,o}, ffn_norm,
  // feed_forward.w{1,2,3}; norm.weight, freqs_cos, freqs_sin [, output.weight when not shared].
  const std::vector<Llama2cTensor>& tensors() const { return tensors_; }
  const Llama2cTensor* find(const std::string& name) const;
  uint64_t size() const { return file_.size(); }

 private:
  MappedFile file_;
  Llama2cConfig config_;
  std::vector<Llama2cTensor> tensors_;
};

// Parses the 28-byte header; validates the values and the file size they imply.
Llama2cConfig parse_llama2c_header(const std::string& source, const uint8_t* data, size_t size);

struct Llama2cVocab {
  int32_t max_token_length = 0;
  std::vector<std::string> pieces;  // raw bytes, as stored
  std::vector<float> scores;
};

// `vocab_size`: the number of tokens to read (then the file must end there); absent: read to EOF.
Llama2cVocab read_llama2c_tokenizer(const std::string& path, std::optional<int32_t> vocab_size = std::nullopt);
Llama2cVocab parse_llama2c_tokenizer(const std::string& source, const uint8_t* data, size_t size,
                                     std::optional<int32_t> vocab_size = std::nullopt);

}  // namespace quantlab
