#include "src/serve/openai_json.hpp"

namespace quantlab::serve::detail {

using json = nlohmann::ordered_json;

namespace {

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json head(const ReplyHeader& h, bool chunk) {
  const char* object = h.endpoint == Endpoint::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

}  // namespace

json error_body(const std::string& message, const std::string& type, const std::string& param, const std::string& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", or_null(param)}, {"code", or_null(code)}}}};
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_body(const ReplyHeader& h, const CompletionOutput& out) {
  json j = head(h, false);
  json choice = {{"index", 0}};
  if (h.endpoint == Endpoint::Chat) choice["message"] = {{"role", "assistant"}, {"content", out.text}};
  else choice["text"] = out.text;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason_name(out.finish);
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(out.prompt_tokens, int64_t(out.tokens.size()));
  return j;
}

json chunk_body(const ReplyHeader& h, const std::string& delta, bool first, const char* finish_reason) {
  json j = head(h, true);
  json choice = {{"index", 0}};
  if (h.endpoint == Endpoint::Chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || (first && !finish_reason)) d["content"] = delta;
    choice["delta"] = d;
  } else {
    choice["text"] = delta;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason ? json(finish_reason) : json(nullptr);
  j["choices"] = json::array({choice});
  return j;
}

json usage_chunk_body(const ReplyHeader& h, int64_t prompt_tokens, int64_t completion_tokens) {
  json j = head(h, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(prompt_tokens, completion_tokens);
  return j;
}

std::string wire(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace quantlab::serve::detail
