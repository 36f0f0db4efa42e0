#include "quantlab/eval/perplexity.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {

double token_nll(std::span<const float> logits, int32_t target) {
  float mx = logits[0];
  for (float v : logits) mx = std::max(mx, v);
  double sum_exp = 0.0;
  for (float v : logits) sum_exp += std::exp(v - mx);
  return -(double(logits[size_t(target)] - mx) - std::log(sum_exp));
}

std::span<const float> evaluate_chunk(Session& session, std::span<const int32_t> tokens, int64_t index,
                                      const PerplexityOptions& o, std::vector<int32_t>& chunk) {
  const int64_t n_ctx = o.n_ctx;
  if ((index + 1) * n_ctx > int64_t(tokens.size())) throw Error("perplexity", "tokens", "chunk past the end of the input");
  chunk.assign(tokens.begin() + index * n_ctx, tokens.begin() + (index + 1) * n_ctx);
  if (o.add_bos) chunk[0] = o.bos_id;
  session.rewind(0);
  return session.forward(chunk, n_ctx / 2);
}

int64_t chunk_count(int64_t n_tokens, const PerplexityOptions& o) {
  const int64_t max_chunks = n_tokens / o.n_ctx;
  return o.n_chunks < 0 ? max_chunks : std::min(o.n_chunks, max_chunks);
}

PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityOptions& o,
                            const std::function<void(int64_t, double)>& on_chunk) {
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 4) throw Error("perplexity", "n_ctx", "must be at least 4");
  if (n_ctx > session.n_ctx()) throw Error("perplexity", "n_ctx", "larger than the session's cache");
  if (int64_t(tokens.size()) < 2 * n_ctx)
    throw Error("perplexity", "tokens", "need at least " + std::to_string(2 * n_ctx) + " tokens for a context of " +
                                            std::to_string(n_ctx) + ", the input has " + std::to_string(tokens.size()));
  const int64_t n_vocab = session.model().config.n_vocab;
  const int64_t n_chunks = chunk_count(int64_t(tokens.size()), o);
  const int64_t first = n_ctx / 2;

  PerplexityResult r;
  r.n_tokens = int64_t(tokens.size());
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  std::vector<int32_t> chunk;
  for (int64_t i = 0; i < n_chunks; ++i) {
    const std::span<const float> logits = evaluate_chunk(session, tokens, i, o, chunk);
    // Logits row j is position first + j and predicts the original token at first + j + 1.
    for (int64_t j = 0; j < n_ctx - 1 - first; ++j) {
      const double v = token_nll(logits.subspan(size_t(j * n_vocab), size_t(n_vocab)), chunk[size_t(first + j + 1)]);
      nll += v;
      nll2 += v * v;
    }
    count += n_ctx - 1 - first;
    r.running_ppl.push_back(std::exp(nll / double(count)));
    if (on_chunk) on_chunk(i, r.running_ppl.back());
  }
  r.n_chunks = n_chunks;
  r.n_scored = count;
  if (count == 0) throw Error("perplexity", "tokens", "nothing to score");
  const double mean = nll / double(count);
  double var = nll2 / double(count) - mean * mean;
  r.mean_nll = mean;
  r.ppl = std::exp(mean);
  r.nll_stderr = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) : 0.0;
  r.ppl_stderr = r.nll_stderr * r.ppl;
  return r;
}

PerSampleResult per_sample_perplexity(Session& session, const std::vector<std::vector<int32_t>>& samples) {
  const int64_t n_vocab = session.model().config.n_vocab;
  PerSampleResult r;
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  for (const auto& sample : samples) {
    r.overall.n_tokens += int64_t(sample.size());
    if (sample.size() < 2) {
      ++r.n_skipped;
      continue;
    }
    const int64_t n = std::min<int64_t>(int64_t(sample.size()), session.n_ctx());
    if (n < int64_t(sample.size())) ++r.n_truncated;
    session.rewind(0);
    const std::span<const float> logits = session.forward({sample.data(), size_t(n)}, 0);
    double sum = 0.0;
    for (int64_t j = 0; j + 1 < n; ++j) {
      const double v = token_nll(logits.subspan(size_t(j * n_vocab), size_t(n_vocab)), sample[size_t(j + 1)]);
      sum += v;
      nll2 += v * v;
    }
    nll += sum;
    count += n - 1;
    r.sample_nll.push_back(sum / double(n - 1));
    r.overall.running_ppl.push_back(std::exp(nll / double(count)));
  }
  if (count == 0) throw Error("perplexity", "samples", "no sample has 2 or more tokens");
  PerplexityResult& o = r.overall;
  o.n_chunks = int64_t(r.sample_nll.size());
  o.n_scored = count;
  o.mean_nll = nll / double(count);
  o.ppl = std::exp(o.mean_nll);
  const double var = nll2 / double(count) - o.mean_nll * o.mean_nll;
  o.nll_stderr = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) : 0.0;
  o.ppl_stderr = o.nll_stderr * o.ppl;
  return r;
}

}  // namespace quantlab
