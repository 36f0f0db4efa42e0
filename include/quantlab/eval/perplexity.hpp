#pragma once
// Chunked perplexity exactly as llama.cpp's llama-perplexity computes it: the token stream is cut
// into chunks of n_ctx tokens, each chunk runs in a fresh context with its first token replaced by
// BOS (when the vocabulary adds BOS), and only the second half of each chunk is scored (positions
// n_ctx/2 .. n_ctx-2 predict the next token). PPL = exp(mean NLL); the ± is llama.cpp's standard
// error of the mean NLL scaled by PPL.
#include "quantlab/model/session.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace quantlab {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t n_chunks = -1;  // < 0: every full chunk
  bool add_bos = true;
  int32_t bos_id = 1;
};

struct PerplexityResult {
  double ppl = 0.0;
  double ppl_stderr = 0.0;   // llama.cpp's "+/-"
  double mean_nll = 0.0;
  double nll_stderr = 0.0;   // standard error of the mean NLL
  int64_t n_chunks = 0;
  int64_t n_scored = 0;      // tokens scored
  int64_t n_tokens = 0;      // tokens in the input
  std::vector<double> running_ppl;  // PPL after each chunk (llama.cpp's [i]value list)
};

// `session` must have n_ctx >= options.n_ctx; it is rewound for every chunk. `on_chunk(i, ppl)`
// (may be empty) is called after each chunk. Throws if the input has fewer than 2*n_ctx tokens.
PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityOptions& options,
                            const std::function<void(int64_t, double)>& on_chunk = {});

// Runs chunk `index` of `tokens` (n_ctx tokens, the first replaced by BOS when options.add_bos) in
// a fresh context; `chunk` receives the tokens as evaluated. Returns the logits of positions
// n_ctx/2 .. n_ctx-1 ([n_ctx - n_ctx/2][n_vocab]); row j predicts chunk[n_ctx/2 + j + 1].
// Shared by perplexity and KL divergence so both score exactly the same positions.
std::span<const float> evaluate_chunk(Session& session, std::span<const int32_t> tokens, int64_t index,
                                      const PerplexityOptions& options, std::vector<int32_t>& chunk);

// Number of chunks `perplexity` scores for this input (llama.cpp: n_tokens / n_ctx, capped by n_chunks).
int64_t chunk_count(int64_t n_tokens, const PerplexityOptions& options);

// Per-sample perplexity: each sample (already tokenized, BOS included as the caller wants) runs
// alone in a fresh context and every token after its first is scored; PPL = exp(total NLL /
// tokens scored), so long samples weigh more (as one long text would). Samples longer than the
// session's context are cut to it (counted in n_truncated); samples of fewer than 2 tokens are
// skipped (n_skipped).
struct PerSampleResult {
  PerplexityResult overall;           // n_chunks = samples scored
  std::vector<double> sample_nll;     // mean NLL per scored sample, in input order
  int64_t n_truncated = 0;
  int64_t n_skipped = 0;
};
PerSampleResult per_sample_perplexity(Session& session, const std::vector<std::vector<int32_t>>& samples);

// -log p(target) from logits, as llama.cpp's log_softmax (max in float, sum of expf in double).
double token_nll(std::span<const float> logits, int32_t target);

}  // namespace quantlab
