#pragma once
// One completion on one Session: prefill the prompt, then sample token after token with the
// project's Sampler (same seed, same tokens) until an end-of-generation token, a stop sequence or
// max_tokens. Text reaches the caller in pieces as it becomes final: a piece never ends inside a
// UTF-8 character and never holds the start of a stop sequence that might still complete, so the
// pieces of a streamed reply concatenate to exactly the text of the same reply unstreamed.
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::serve {

enum class FinishReason { Stop, Length, Cancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled"

struct CompletionParams {
  int64_t max_tokens = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop sequences; the text ends before the first one found
};

struct CompletionOutput {
  std::string text;              // the reply: the pieces given to on_text, concatenated
  std::vector<int32_t> tokens;   // every token sampled (an end token included)
  FinishReason finish = FinishReason::Length;
  int64_t prompt_tokens = 0;
};

// Receives each final piece of text; returning false cancels the completion (a client that left).
using TextSink = std::function<bool(std::string_view piece)>;

// Runs `prompt` on `session` and samples the reply. `prompt` plus max_tokens must fit the session's
// context (checked by the caller; Session throws otherwise). The reply's text is tokenizer.decode of
// the sampled tokens with the end token left out.
// `cached` (may be null): the tokens the session's KV cache holds from its previous completion; the
// prompt's longest common prefix with them is kept rather than run again (a judge's long rubric,
// a conversation's earlier turns), and the vector is updated. Session computes a token's keys and
// values with the same bits whether it ran alone or in a batch, so the reply does not change.
CompletionOutput run_completion(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                                const CompletionParams& params, const TextSink& on_text = {},
                                std::vector<int32_t>* cached = nullptr);

// Length of the longest suffix of `text` that is a proper prefix of one of `stops` (text that may
// still become a stop sequence), and the length of an unfinished UTF-8 character at its end.
size_t pending_stop_prefix(std::string_view text, const std::vector<std::string>& stops);
size_t incomplete_utf8_tail(std::string_view text);

}  // namespace quantlab::serve
