#include "quantlab/eval/kl_divergence.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab {

namespace {

// Compressed log-probs of the scored rows of one evaluated chunk.
std::vector<uint16_t> compress_chunk(std::span<const float> logits, const std::vector<int32_t>& chunk, int64_t n_vocab) {
  const int64_t n_ctx = int64_t(chunk.size()), first = n_ctx / 2, rows = n_ctx - 1 - first;
  const int64_t nv = compressed_logprob_words(n_vocab);
  std::vector<uint16_t> words(size_t(rows * nv));
  for (int64_t j = 0; j < rows; ++j)
    compress_logprobs(logits.data() + j * n_vocab, n_vocab, chunk[size_t(first + j + 1)], words.data() + j * nv);
  return words;
}

void add_chunk(KldAccumulator& acc, std::span<const float> logits, const std::vector<uint16_t>& base,
               const std::vector<int32_t>& chunk, int64_t n_vocab) {
  const int64_t n_ctx = int64_t(chunk.size()), first = n_ctx / 2, rows = n_ctx - 1 - first;
  const int64_t nv = compressed_logprob_words(n_vocab);
  for (int64_t j = 0; j < rows; ++j)
    acc.add(logits.data() + j * n_vocab, base.data() + j * nv, n_vocab, chunk[size_t(first + j + 1)]);
}

void check_session(const Session& s, const PerplexityOptions& o, const char* which) {
  if (o.n_ctx > s.n_ctx()) throw Error(which, "n_ctx", "larger than the session's cache");
}

}  // namespace

void save_base_logits(Session& base, std::span<const int32_t> tokens, const PerplexityOptions& o, const std::string& path,
                      const ChunkCallback& on_chunk) {
  check_session(base, o, "base model");
  const int64_t n_chunks = chunk_count(int64_t(tokens.size()), o);
  if (n_chunks < 1) throw Error(path, "tokens", "the input is shorter than one chunk of " + std::to_string(o.n_ctx) + " tokens");
  const int64_t n_vocab = base.model().config.n_vocab;
  BaseLogitsWriter writer(path, uint32_t(o.n_ctx), int32_t(n_vocab),
                          std::vector<int32_t>(tokens.begin(), tokens.begin() + n_chunks * o.n_ctx));
  std::vector<int32_t> chunk;
  for (int64_t i = 0; i < n_chunks; ++i) {
    const auto logits = evaluate_chunk(base, tokens, i, o, chunk);
    writer.add_chunk(compress_chunk(logits, chunk, n_vocab));
    if (on_chunk) on_chunk(i, n_chunks);
  }
  writer.finish();
}

KldSummary kl_divergence(Session& test, const BaseLogitsFile& base, PerplexityOptions o, const ChunkCallback& on_chunk) {
  o.n_ctx = base.n_ctx();
  check_session(test, o, "model");
  const int64_t n_vocab = test.model().config.n_vocab;
  if (n_vocab != base.n_vocab())
    throw Error("model", "n_vocab", "vocabulary of " + std::to_string(n_vocab) + " differs from the base's " + std::to_string(base.n_vocab()));
  const int64_t n_chunks = o.n_chunks < 0 ? base.n_chunk() : std::min<int64_t>(o.n_chunks, base.n_chunk());
  KldAccumulator acc;
  std::vector<int32_t> chunk;
  for (int64_t i = 0; i < n_chunks; ++i) {
    const auto logits = evaluate_chunk(test, base.tokens(), i, o, chunk);
    add_chunk(acc, logits, base.chunk(int32_t(i)), chunk, n_vocab);
    if (on_chunk) on_chunk(i, n_chunks);
  }
  return acc.summary();
}

KldSummary kl_divergence(Session& base, Session& test, std::span<const int32_t> tokens, const PerplexityOptions& o,
                         const ChunkCallback& on_chunk) {
  check_session(base, o, "base model");
  check_session(test, o, "model");
  const int64_t n_vocab = test.model().config.n_vocab;
  if (n_vocab != base.model().config.n_vocab) throw Error("model", "n_vocab", "the two models' vocabularies differ");
  const int64_t n_chunks = chunk_count(int64_t(tokens.size()), o);
  if (n_chunks < 1) throw Error("input", "tokens", "shorter than one chunk of " + std::to_string(o.n_ctx) + " tokens");
  KldAccumulator acc;
  std::vector<int32_t> chunk;
  for (int64_t i = 0; i < n_chunks; ++i) {
    // The base's logits span is invalidated by its next forward only, so compress it first.
    const auto base_words = compress_chunk(evaluate_chunk(base, tokens, i, o, chunk), chunk, n_vocab);
    add_chunk(acc, evaluate_chunk(test, tokens, i, o, chunk), base_words, chunk, n_vocab);
    if (on_chunk) on_chunk(i, n_chunks);
  }
  return acc.summary();
}

}  // namespace quantlab
