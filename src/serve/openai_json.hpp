#pragma once
// The JSON bodies of OpenAI's API that the server sends: errors, whole completions and the chunks
// of a streamed one (chat.completion[.chunk] and text_completion objects).
#include "quantlab/serve/completion.hpp"
#include "quantlab/serve/request.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace quantlab::serve::detail {

struct ReplyHeader {
  Endpoint endpoint;
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

nlohmann::ordered_json error_body(const std::string& message, const std::string& type, const std::string& param,
                                  const std::string& code);
nlohmann::ordered_json usage_json(int64_t prompt_tokens, int64_t completion_tokens);
// The whole reply of a non-streamed request.
nlohmann::ordered_json completion_body(const ReplyHeader& h, const CompletionOutput& out);
// One chunk of a streamed reply: `delta` text (chat: the first chunk also carries the role) and,
// in the last chunk, the finish reason.
nlohmann::ordered_json chunk_body(const ReplyHeader& h, const std::string& delta, bool first, const char* finish_reason);
// The optional last chunk of stream_options.include_usage: no choices, the usage.
nlohmann::ordered_json usage_chunk_body(const ReplyHeader& h, int64_t prompt_tokens, int64_t completion_tokens);

// JSON text for the wire: invalid UTF-8 in generated text (a reply cut inside a character) is
// replaced by U+FFFD instead of throwing.
std::string wire(const nlohmann::ordered_json& j);

}  // namespace quantlab::serve::detail
