#pragma once
// An OpenAI-style completion request (POST /v1/chat/completions or /v1/completions), parsed and
// checked before any model work: a wrong type, an out-of-range value or a feature quantlab does not
// implement (n > 1, logprobs, penalties, tools, ...) is a RequestError naming the field, which the
// server turns into HTTP 400 with an OpenAI-style {"error": {...}} body. Unknown fields are
// ignored, as OpenAI's API does, so clients that send extra options still work.
#include "quantlab/model/sampler.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::serve {

enum class Endpoint { Chat, Completion };

// An error that the client caused (or a refusal): its HTTP status and OpenAI's error fields.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string type, std::string param, std::string message, std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }    // "invalid_request_error", "server_error", ...
  const std::string& param() const { return param_; }  // the request field at fault, or ""
  const std::string& code() const { return code_; }    // "context_length_exceeded", ... or ""

 private:
  int status_;
  std::string type_, param_, code_;
};

// A 400 invalid_request_error naming `param`.
RequestError invalid_request(const std::string& param, const std::string& message, const std::string& code = {});

struct CompletionRequest {
  Endpoint endpoint = Endpoint::Completion;
  std::string model;                    // as the client named it ("" when absent; any name is served)
  nlohmann::ordered_json messages;      // Chat: [{"role", "content": string}] (content parts joined)
  std::string prompt;                   // Completion: the raw prompt text
  std::optional<int64_t> max_tokens;    // absent: Completion 16 (as OpenAI), Chat the rest of the context
  SamplingParams sampling;              // temperature 1 and top_p 1 by default, as OpenAI
  bool seeded = false;                  // "seed" given (else the server picks one per request)
  std::vector<std::string> stop;        // up to 16 non-empty strings
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage: a last chunk with usage
};

// Parses a request body for `endpoint`. Throws RequestError (400) for malformed JSON, a body that
// is not an object, a wrong type or value, or an unsupported option.
CompletionRequest parse_completion_request(std::string_view body, Endpoint endpoint);

}  // namespace quantlab::serve
