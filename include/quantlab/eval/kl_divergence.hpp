#pragma once
// KL divergence of a model against a base model over the chunks perplexity scores: either both
// models side by side, or the base's log-probs saved once to a llama.cpp-compatible file and many
// models compared against it later.
#include "quantlab/eval/kld.hpp"
#include "quantlab/eval/perplexity.hpp"

#include <functional>
#include <span>
#include <string>

namespace quantlab {

using ChunkCallback = std::function<void(int64_t chunk, int64_t n_chunks)>;

void save_base_logits(Session& base, std::span<const int32_t> tokens, const PerplexityOptions& options,
                      const std::string& path, const ChunkCallback& on_chunk = {});

// Against a saved base: the tokens and n_ctx come from the file; options.n_chunks may limit them.
KldSummary kl_divergence(Session& test, const BaseLogitsFile& base, PerplexityOptions options,
                         const ChunkCallback& on_chunk = {});

// Both models on the same chunks (their vocabularies must agree).
KldSummary kl_divergence(Session& base, Session& test, std::span<const int32_t> tokens,
                         const PerplexityOptions& options, const ChunkCallback& on_chunk = {});

}  // namespace quantlab
