#include "quantlab/serve/request.hpp"

#include <cmath>
#include <limits>

namespace quantlab::serve {
namespace {

using json = nlohmann::ordered_json;

const char* type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

RequestError wrong_type(const std::string& param, const json& v, const std::string& expected) {
  return invalid_request(param, "'" + param + "' must be " + expected + ", not " + type_name(v));
}

// The value of `key`, or nullptr when absent or null (OpenAI treats an explicit null as "not given").
const json* field(const json& body, const char* key) {
  const auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* key, double fallback, double lo, double hi) {
  const json* v = field(body, key);
  if (!v) return fallback;
  if (!v->is_number()) throw wrong_type(key, *v, "a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    throw invalid_request(key, "'" + std::string(key) + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
  return x;
}

std::optional<int64_t> integer(const json& body, const char* key, int64_t lo, int64_t hi) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  // 3.0 is an integer to a JSON client in a typed language; 3.5 is not.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d != std::floor(d) || !(std::fabs(d) < 9.2e18)) throw wrong_type(key, *v, "an integer");
    const auto i = int64_t(d);
    if (i < lo || i > hi) throw invalid_request(key, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return i;
  }
  if (!v->is_number_integer()) throw wrong_type(key, *v, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    throw invalid_request(key, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  const int64_t i = v->get<int64_t>();
  if (i < lo || i > hi)
    throw invalid_request(key, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return i;
}

bool boolean(const json& body, const char* key, bool fallback) {
  const json* v = field(body, key);
  if (!v) return fallback;
  if (!v->is_boolean()) throw wrong_type(key, *v, "a boolean");
  return v->get<bool>();
}

// Options quantlab does not implement are refused rather than silently ignored, unless they hold
// their neutral value (clients often send penalties of 0 or logprobs: false).
void refuse_unsupported(const json& body, Endpoint endpoint) {
  if (const auto n = integer(body, "n", 1, 128); n && *n != 1) throw invalid_request("n", "only n = 1 is supported");
  if (const auto b = integer(body, "best_of", 1, 128); b && *b != 1) throw invalid_request("best_of", "only best_of = 1 is supported");
  if (const json* v = field(body, "logprobs")) {
    const bool asked = v->is_boolean() ? v->get<bool>() : !(v->is_number() && v->get<double>() == 0);
    if (asked) throw invalid_request("logprobs", "logprobs are not supported by quantlab serve");
  }
  if (field(body, "top_logprobs")) throw invalid_request("top_logprobs", "logprobs are not supported by quantlab serve");
  for (const char* key : {"presence_penalty", "frequency_penalty", "repetition_penalty"}) {
    const json* v = field(body, key);
    if (v && !v->is_number()) throw wrong_type(key, *v, "a number");
    if (v && v->get<double>() != (std::string(key) == "repetition_penalty" ? 1.0 : 0.0))
      throw invalid_request(key, std::string(key) + " is not supported by quantlab serve");
  }
  if (const json* v = field(body, "logit_bias"); v && !(v->is_object() && v->empty()))
    throw invalid_request("logit_bias", "logit_bias is not supported by quantlab serve");
  if (endpoint == Endpoint::Completion) {
    if (boolean(body, "echo", false)) throw invalid_request("echo", "echo is not supported by quantlab serve");
    if (const json* v = field(body, "suffix"); v && !(v->is_string() && v->get<std::string>().empty()))
      throw invalid_request("suffix", "suffix (insertion) is not supported by quantlab serve");
  } else {
    if (const json* v = field(body, "tools"); v && !(v->is_array() && v->empty()))
      throw invalid_request("tools", "tool calls are not supported by quantlab serve");
    if (field(body, "functions")) throw invalid_request("functions", "function calls are not supported by quantlab serve");
    if (const json* v = field(body, "response_format")) {
      const json* t = v->is_object() ? field(*v, "type") : nullptr;
      if (!t || *t != "text") throw invalid_request("response_format", "only response_format {\"type\": \"text\"} is supported");
    }
  }
}

// A message's content: a string, or OpenAI's list of parts of which only text parts are taken.
std::string message_content(const json& content, const std::string& param) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw wrong_type(param, content, "a string or an array of content parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw wrong_type(p, part, "an object");
    const json* type = field(part, "type");
    if (!type || !type->is_string()) throw invalid_request(p + ".type", "each content part needs a string 'type'");
    if (*type != "text") throw invalid_request(p + ".type", "only text content parts are supported, not '" + type->get<std::string>() + "'");
    const json* t = field(part, "text");
    if (!t || !t->is_string()) throw invalid_request(p + ".text", "a text part needs a string 'text'");
    text += t->get<std::string>();
  }
  return text;
}

json parse_messages(const json& body) {
  const json* v = field(body, "messages");
  if (!v) throw invalid_request("messages", "'messages' is required");
  if (!v->is_array()) throw wrong_type("messages", *v, "an array");
  if (v->empty()) throw invalid_request("messages", "'messages' must not be empty");
  json out = json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw wrong_type(p, m, "an object");
    const json* role = field(m, "role");
    if (!role || !role->is_string()) throw invalid_request(p + ".role", "each message needs a string 'role'");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "developer")
      throw invalid_request(p + ".role", "role must be system, developer, user or assistant, not '" + r + "'");
    const auto content = m.find("content");
    if (content == m.end() && r != "assistant") throw invalid_request(p + ".content", "'content' is required");
    // "developer" is OpenAI's newer name for the system role; chat templates know "system".
    out.push_back({{"role", r == "developer" ? "system" : r},
                   {"content", content == m.end() ? std::string() : message_content(*content, p + ".content")}});
  }
  return out;
}

std::string parse_prompt(const json& body) {
  const json* v = field(body, "prompt");
  if (!v) throw invalid_request("prompt", "'prompt' is required");
  if (v->is_string()) return v->get<std::string>();
  if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) return (*v)[0].get<std::string>();
  if (v->is_array() && v->size() > 1) throw invalid_request("prompt", "only one prompt per request is supported");
  throw wrong_type("prompt", *v, "a string (token-id prompts are not supported)");
}

std::vector<std::string> parse_stop(const json& body) {
  const json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> stop;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > 16) throw invalid_request("stop", "at most 16 stop sequences");
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) throw wrong_type("stop[" + std::to_string(i) + "]", (*v)[i], "a string");
      stop.push_back((*v)[i].get<std::string>());
    }
  } else {
    throw wrong_type("stop", *v, "a string or an array of strings");
  }
  for (const std::string& s : stop) {
    if (s.empty()) throw invalid_request("stop", "stop sequences must not be empty");
    if (s.size() > 1024) throw invalid_request("stop", "stop sequences are at most 1024 bytes");
  }
  return stop;
}

}  // namespace

RequestError invalid_request(const std::string& param, const std::string& message, const std::string& code) {
  return RequestError(400, "invalid_request_error", param, message, code);
}

CompletionRequest parse_completion_request(std::string_view body_text, Endpoint endpoint) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw invalid_request("", "the request body is not valid JSON");
  if (!body.is_object()) throw invalid_request("", std::string("the request body must be a JSON object, not ") + type_name(body));

  CompletionRequest r;
  r.endpoint = endpoint;
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) throw wrong_type("model", *m, "a string");
    r.model = m->get<std::string>();
  }
  if (endpoint == Endpoint::Chat) r.messages = parse_messages(body);
  else r.prompt = parse_prompt(body);

  // max_completion_tokens is the chat API's newer name for max_tokens.
  const auto max_tokens = integer(body, "max_tokens", 1, int64_t(1) << 30);
  const auto max_completion = endpoint == Endpoint::Chat ? integer(body, "max_completion_tokens", 1, int64_t(1) << 30) : std::nullopt;
  r.max_tokens = max_completion ? max_completion : max_tokens;
  if (endpoint == Endpoint::Completion && !r.max_tokens) r.max_tokens = 16;

  r.sampling.temperature = float(number(body, "temperature", 1.0, 0.0, 2.0));
  r.sampling.top_p = float(number(body, "top_p", 1.0, 0.0, 1.0));
  if (r.sampling.top_p <= 0) throw invalid_request("top_p", "'top_p' must be greater than 0");
  r.sampling.min_p = float(number(body, "min_p", 0.0, 0.0, 1.0));
  r.sampling.top_k = int32_t(integer(body, "top_k", -1, 1 << 30).value_or(0));
  if (r.sampling.top_k < 0) r.sampling.top_k = 0;  // -1 means "off" to vLLM clients
  if (const auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    r.sampling.seed = uint64_t(*seed);
    r.seeded = true;
  }
  r.stop = parse_stop(body);
  r.stream = boolean(body, "stream", false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", *so, "an object");
    if (!r.stream) throw invalid_request("stream_options", "'stream_options' is only allowed with stream: true");
    r.include_usage = boolean(*so, "include_usage", false);
  }
  refuse_unsupported(body, endpoint);
  return r;
}

}  // namespace quantlab::serve
