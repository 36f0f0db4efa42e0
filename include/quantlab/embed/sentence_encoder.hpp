#pragma once
// Sentence embeddings as sentence-transformers computes them, for BERT-family encoders such as
// all-MiniLM-L6-v2 (the `embed` asset): the model's WordPiece tokenizer, truncation to
// max_seq_length, the BERT encoder (post-LayerNorm, exact-erf GELU, bidirectional attention), then
// the folder's pooling module (mean, CLS, max or mean/sqrt(length)) and, when modules.json lists it,
// L2 normalisation. Used to measure how far a quantized model's answers moved from the original's
// (seed 001's embedding distances).
//
// Texts are encoded one at a time (no padding, so no mask), each with a fixed order of operations:
// the same text gives the same bits whatever the thread count or the other texts of a call.
#include "quantlab/backend/thread_pool.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab {

enum class SentencePooling { Mean, Cls, Max, MeanSqrtLength };

struct SentenceEncoderInfo {
  std::string folder;
  int64_t dimension = 0;       // hidden size = embedding length
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t max_seq_length = 0;  // tokens per text including [CLS] and [SEP]; longer texts are cut
  SentencePooling pooling = SentencePooling::Mean;
  bool normalize = false;
};

class SentenceEncoder {
 public:
  // `folder`: a sentence-transformers folder (modules.json, sentence_bert_config.json, the pooling
  // module's config) or a plain Hugging Face BERT folder (then mean pooling, no normalisation, as
  // sentence-transformers does). Throws Error naming the file and field of anything it cannot run.
  SentenceEncoder(const std::string& folder, ThreadPool& pool);
  ~SentenceEncoder();
  SentenceEncoder(SentenceEncoder&&) noexcept;

  const SentenceEncoderInfo& info() const;
  // Token ids the text is encoded from (after truncation), [CLS] ... [SEP].
  std::vector<int32_t> tokens(std::string_view text) const;
  std::vector<float> encode(std::string_view text) const;
  std::vector<std::vector<float>> encode(const std::vector<std::string>& texts) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Cosine similarity (0 when either vector is all zeros); the vectors must have the same length.
double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b);
// L1 distance as issue 14 and eval answers report it: the mean |a - b| over dimensions (0 for empty
// vectors); the vectors must have the same length.
double l1_distance(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace quantlab
