#pragma once
// From a parsed request to the tokens the model runs, and how many tokens the reply may take.
// Chat messages go through the model's own chat template with the generation prompt, tokenized as
// `eval chat` and calibration tokenize templated text (special tokens parsed, one BOS when the
// vocabulary uses one); a raw prompt is tokenized as `quantlab generate --prompt` does (BOS per the
// vocabulary, special-token text parsed), so a greedy reply here is `generate`'s greedy text.
#include "quantlab/serve/request.hpp"
#include "quantlab/text/chat_template.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstdint>
#include <vector>

namespace quantlab::serve {

// Throws RequestError (400) when the model has no chat template for a chat request, the template
// refuses the conversation, or the prompt is empty.
std::vector<int32_t> prompt_tokens(const CompletionRequest& request, const Tokenizer& tokenizer,
                                   const text::ChatTemplate* chat_template);

// The reply's token budget: max_tokens, or what the context leaves when it is absent. Throws
// RequestError (400, code context_length_exceeded) when the prompt fills the context or the prompt
// plus max_tokens exceed it, as OpenAI's API refuses such requests.
int64_t reply_budget(int64_t n_prompt, const CompletionRequest& request, int64_t n_ctx);

}  // namespace quantlab::serve
