#pragma once
// A client for any OpenAI-compatible chat endpoint (quantlab serve, llama.cpp's llama-server, vLLM,
// ...): POST {base}/v1/chat/completions and GET {base}/v1/models over plain HTTP (http:// only; no
// TLS). A judge run sends hundreds of requests to a server that may be busy, restarting or flaky,
// so a request that fails for a reason that may pass -- no connection, a timeout, a closed
// connection, HTTP 429 or 5xx, a body that is not the JSON a chat completion is -- is tried again
// after an exponentially growing pause; when the tries are spent the failure is *returned* (never
// thrown), so one bad item is recorded as an error and the run goes on. A 4xx other than 429 says
// the request itself is wrong and is not repeated.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct ChatClientOptions {
  double timeout_s = 120;       // connecting, and each wait for bytes of the reply
  int retries = 3;              // further tries after the first
  double backoff_s = 1;         // pause before the first retry; doubled for each further one
  double backoff_max_s = 30;    // longest pause (also caps a server's Retry-After)
  std::string api_key;          // sent as "Authorization: Bearer KEY" when not empty
};

struct ChatRequest {
  std::string model;  // the "model" field (quantlab serve and llama-server ignore it; vLLM needs it)
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{"role", "content"}, ...]
  int64_t max_tokens = 16;
  double temperature = 0;
  int top_logprobs = 0;  // > 0: ask for "logprobs": true with that many alternatives per token

  // The JSON body sent.
  nlohmann::ordered_json body() const;
};

struct ChatResult {
  bool ok = false;
  std::string content;        // choices[0].message.content
  std::string finish_reason;  // choices[0].finish_reason ("" when absent)
  std::string model;          // the "model" the reply names ("" when absent)
  nlohmann::json logprobs;    // choices[0].logprobs as sent (null when absent)
  std::string error;          // !ok: what went wrong on the last try, one line
  int status = 0;             // HTTP status of the last try (0: no HTTP reply came)
  int attempts = 0;           // tries made
  std::string body;           // the last reply body, cut at 64 KiB (what a malformed reply looked like)
};

// "http://host[:port][/prefix]": the prefix (with or without a trailing /v1) is kept in front of
// /v1/...; throws Error naming `what` and the URL for https:// or anything else that is not one.
struct HttpEndpoint {
  std::string host;
  int port = 80;
  std::string prefix;  // "" or "/something", never ending in "/" or "/v1"
  std::string url;     // as given

  static HttpEndpoint parse(const std::string& url, const std::string& what);
};

class ChatClient {
 public:
  ChatClient(HttpEndpoint endpoint, ChatClientOptions options);

  // Never throws for what the network or the server does: the result says ok or names the error.
  ChatResult chat(const ChatRequest& request) const;

  // The model ids of GET /v1/models (retried as chat() is). Throws Error naming the endpoint when no
  // usable list comes back: without it a run could not say which judge it asked.
  std::vector<std::string> models() const;

  const HttpEndpoint& endpoint() const { return endpoint_; }
  const ChatClientOptions& options() const { return options_; }

  // Called before every pause between tries (what failed, the pause in seconds); for progress lines.
  std::function<void(const std::string& error, double pause_s)> on_retry;

 private:
  HttpEndpoint endpoint_;
  ChatClientOptions options_;
};

}  // namespace quantlab
