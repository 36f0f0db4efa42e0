#pragma once
// KL divergence of a model against a base model, token by token, with the statistics that
// llama.cpp's `llama-perplexity --kl-divergence` prints (same definitions, so numbers compare):
// mean KLD ± uncertainty, percentiles, top-token agreement, Δp (change of the probability of the
// correct token) and the perplexities of both models with their correlation.
//
// Base log-probabilities are stored compressed exactly as llama.cpp stores them (per token: f32
// scale, f32 min log-prob, then one uint16 per vocabulary entry covering the 16 nats below the
// top logit), so a base file written by quantlab can be read by llama-perplexity and vice versa.
#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

// Number of uint16 words one token's compressed log-probs take (4 words hold scale and min).
inline int64_t compressed_logprob_words(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

// Compresses one token's logits into `out` (compressed_logprob_words(n_vocab) words).
// Returns the negative log-likelihood of `correct`.
double compress_logprobs(const float* logits, int64_t n_vocab, int32_t correct, uint16_t* out);

struct KldSummary {
  int64_t count = 0;
  double ppl = 0, ppl_err = 0;            // test model
  double ppl_base = 0, ppl_base_err = 0;  // base model
  double ln_ppl_ratio = 0, ln_ppl_ratio_err = 0;
  double ppl_correlation = 0;
  double kld_mean = 0, kld_err = 0;
  double kld_max = 0, kld_p999 = 0, kld_p99 = 0, kld_p95 = 0, kld_p90 = 0, kld_median = 0;
  double kld_p10 = 0, kld_p05 = 0, kld_p01 = 0, kld_p001 = 0, kld_min = 0;
  double dp_mean = 0, dp_err = 0;  // Δp = p_test(correct) - p_base(correct)
  double dp_max = 0, dp_p999 = 0, dp_p99 = 0, dp_p95 = 0, dp_p90 = 0, dp_p75 = 0, dp_median = 0;
  double dp_p25 = 0, dp_p10 = 0, dp_p05 = 0, dp_p01 = 0, dp_p001 = 0, dp_min = 0;
  double dp_rms = 0, dp_rms_err = 0;
  double same_top = 0, same_top_err = 0;  // fraction of tokens whose most likely token agrees
};

class KldAccumulator {
 public:
  // One scored position: the test model's logits, the base model's compressed log-probs for the
  // same position, and the token that actually follows.
  void add(const float* logits, const uint16_t* base_logprobs, int64_t n_vocab, int32_t correct);
  int64_t count() const { return int64_t(kld_values_.size()); }
  KldSummary summary() const;

 private:
  double sum_nll_ = 0, sum_nll2_ = 0, sum_nll_base_ = 0, sum_nll_base2_ = 0, sum_nll_nll_base_ = 0;
  double sum_kld_ = 0, sum_kld2_ = 0, sum_dp_ = 0, sum_dp2_ = 0, sum_dp4_ = 0;
  int64_t same_top_ = 0;
  std::vector<float> kld_values_, dp_values_;
};

// llama.cpp's base-logits file (`--save-all-logits` / `--kl-divergence-base`): "_logits_", u32 n_ctx,
// i32 n_vocab, i32 n_chunk, i32 tokens[n_ctx * n_chunk], then per chunk the compressed log-probs
// of positions n_ctx/2 .. n_ctx-2 (each predicting the next token).
class BaseLogitsWriter {
 public:
  // Writes to `path` + ".tmp" and renames on finish(), so no partial file is left behind.
  BaseLogitsWriter(const std::string& path, uint32_t n_ctx, int32_t n_vocab, const std::vector<int32_t>& tokens);
  ~BaseLogitsWriter();
  void add_chunk(const std::vector<uint16_t>& words);  // (n_ctx - 1 - n_ctx/2) * compressed words
  void finish();

 private:
  std::string path_, tmp_;
  void* file_ = nullptr;
  size_t chunk_words_ = 0;
  int32_t chunks_expected_ = 0, chunks_written_ = 0;
};

class BaseLogitsFile {
 public:
  explicit BaseLogitsFile(const std::string& path);  // validates sizes; throws Error
  uint32_t n_ctx() const { return n_ctx_; }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t n_chunk() const { return n_chunk_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Compressed log-probs of chunk c (positions n_ctx/2 .. n_ctx-2).
  std::vector<uint16_t> chunk(int32_t c) const;

 private:
  std::string path_;
  uint32_t n_ctx_ = 0;
  int32_t n_vocab_ = 0, n_chunk_ = 0;
  std::vector<int32_t> tokens_;
  uint64_t data_offset_ = 0;
};

}  // namespace quantlab
