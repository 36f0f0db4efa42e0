#include "quantlab/serve/prompt.hpp"

#include "quantlab/calib/packing.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/error.hpp"

namespace quantlab::serve {

std::vector<int32_t> prompt_tokens(const CompletionRequest& request, const Tokenizer& tokenizer,
                                   const text::ChatTemplate* chat_template) {
  std::vector<int32_t> ids;
  if (request.endpoint == Endpoint::Chat) {
    if (!chat_template)
      throw invalid_request("messages", "this model has no chat template; use /v1/completions with a raw prompt");
    std::string rendered;
    try {
      rendered = chat_template->apply(request.messages, /*add_generation_prompt=*/true);
    } catch (const Error& e) {
      // The template's own raise_exception (e.g. "roles must alternate") is the client's mistake.
      throw invalid_request("messages", std::string("the chat template refuses these messages: ") + e.message());
    }
    ids = calib::tokenize_sample(rendered, /*templated=*/true, calib::tokenizer_fn(tokenizer));
  } else {
    ids = tokenizer.encode(request.prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  if (ids.empty()) throw invalid_request(request.endpoint == Endpoint::Chat ? "messages" : "prompt", "the prompt encodes to no tokens");
  return ids;
}

int64_t reply_budget(int64_t n_prompt, const CompletionRequest& request, int64_t n_ctx) {
  if (n_prompt >= n_ctx)
    throw invalid_request(request.endpoint == Endpoint::Chat ? "messages" : "prompt",
                          "the prompt is " + std::to_string(n_prompt) + " tokens; this server's context holds " +
                              std::to_string(n_ctx) + " (prompt and reply together)",
                          "context_length_exceeded");
  if (!request.max_tokens) return n_ctx - n_prompt;
  if (n_prompt + *request.max_tokens > n_ctx)
    throw invalid_request("max_tokens",
                          "the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                              std::to_string(*request.max_tokens) + ") exceed this server's context of " +
                              std::to_string(n_ctx) + " tokens",
                          "context_length_exceeded");
  return *request.max_tokens;
}

}  // namespace quantlab::serve
