// The OpenAI-compatible chat client on Debian's cpp-httplib (one connection per try: a judge run is
// a few requests a second at most, and a fresh connection cannot inherit a half-read reply).
#include "quantlab/eval/chat_client.hpp"

#include "quantlab/core/error.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace quantlab {

nlohmann::ordered_json ChatRequest::body() const {
  nlohmann::ordered_json j{{"model", model}, {"messages", messages}, {"temperature", temperature}, {"max_tokens", max_tokens}};
  if (top_logprobs > 0) {
    j["logprobs"] = true;
    j["top_logprobs"] = top_logprobs;
  }
  return j;
}

HttpEndpoint HttpEndpoint::parse(const std::string& url, const std::string& what) {
  HttpEndpoint e;
  e.url = url;
  if (url.rfind("https://", 0) == 0)
    throw Error(what, url, "https:// is not supported (plain http:// only; put a local TLS proxy in front)");
  if (url.rfind("http://", 0) != 0) throw Error(what, url, "not an http://host:port URL");
  std::string rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
  if (authority.find('@') != std::string::npos) throw Error(what, url, "user:password@ in the URL is not supported (use --api-key)");
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw Error(what, url, "the port is not a number");
    e.port = std::stoi(port);
    if (e.port < 1 || e.port > 65535) throw Error(what, url, "the port must be between 1 and 65535");
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) throw Error(what, url, "no host");
  e.host = authority;
  while (!path.empty() && path.back() == '/') path.pop_back();
  // ".../v1" and "..." name the same server: clients are told both ways (OpenAI's base_url ends in /v1).
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) path.resize(path.size() - 3);
  if (path.find_first_of("?#") != std::string::npos) throw Error(what, url, "a query or fragment is not expected");
  e.prefix = path;
  return e;
}

ChatClient::ChatClient(HttpEndpoint endpoint, ChatClientOptions options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

namespace {

struct Try {
  bool ok = false;
  bool retryable = false;
  std::string error;
  int status = 0;
  std::string body;
  double retry_after_s = 0;  // the server's Retry-After, when it sent one
};

std::string cut(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n) : s; }

// One request on a fresh connection.
Try send(const HttpEndpoint& e, const ChatClientOptions& o, const std::string& method, const std::string& path,
         const std::string& body) {
  httplib::Client cli(e.host, e.port);
  const auto whole = std::chrono::duration<double>(o.timeout_s);
  const auto sec = std::chrono::duration_cast<std::chrono::seconds>(whole);
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(whole - sec);
  cli.set_connection_timeout(time_t(sec.count()), time_t(usec.count()));
  cli.set_read_timeout(time_t(sec.count()), time_t(usec.count()));
  cli.set_write_timeout(time_t(sec.count()), time_t(usec.count()));
  cli.set_keep_alive(false);
  httplib::Headers headers;
  if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
  const httplib::Result r = method == "GET" ? cli.Get(e.prefix + path, headers)
                                            : cli.Post(e.prefix + path, headers, body, "application/json");
  Try t;
  if (!r) {
    // Connection refused, a timeout, a connection closed before a whole reply: all may pass.
    const httplib::Error err = r.error();
    t.retryable = true;
    t.error = err == httplib::Error::Read ? "no complete reply (the connection was closed, or no bytes came within the timeout)"
              : err == httplib::Error::ConnectionTimeout ? "connecting timed out"
              : err == httplib::Error::Connection ? "cannot connect"
                                                   : "HTTP " + httplib::to_string(err) + " error";
    return t;
  }
  t.status = r->status;
  t.body = cut(r->body, 65536);
  if (r->status == 429 || r->status >= 500) {
    t.retryable = true;
    t.error = "HTTP " + std::to_string(r->status);
    const std::string after = r->get_header_value("Retry-After");
    if (!after.empty() && std::all_of(after.begin(), after.end(), [](char c) { return c >= '0' && c <= '9'; }) && after.size() < 6)
      t.retry_after_s = std::stod(after);
  } else if (r->status != 200) {
    t.error = "HTTP " + std::to_string(r->status);
  } else {
    t.ok = true;
  }
  if (!t.ok) {
    // An OpenAI error body says why in one line; the error keeps it.
    const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
        j["error"]["message"].is_string())
      t.error += ": " + cut(j["error"]["message"].get<std::string>(), 300);
  }
  return t;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// Runs `once` until it succeeds, fails for good, or the tries are spent, pausing in between.
template <class Once>
Try with_retries(const ChatClient& c, Once once, int& attempts) {
  const ChatClientOptions& o = c.options();
  for (attempts = 1;; ++attempts) {
    Try t = once();
    if (t.ok || !t.retryable || attempts > o.retries) return t;
    double pause = std::min(o.backoff_max_s, o.backoff_s * std::pow(2.0, attempts - 1));
    if (t.retry_after_s > 0) pause = std::min(o.backoff_max_s, std::max(pause, t.retry_after_s));
    if (c.on_retry) c.on_retry(t.error, pause);
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }
}

}  // namespace

ChatResult ChatClient::chat(const ChatRequest& request) const {
  const std::string body = request.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ChatResult result;
  const Try t = with_retries(*this, [&]() {
    Try t = send(endpoint_, options_, "POST", "/v1/chat/completions", body);
    if (!t.ok) return t;
    // A 200 whose body is not a chat completion is retried too: a proxy or a server under load can cut it.
    const nlohmann::json j = nlohmann::json::parse(t.body, nullptr, false);
    const nlohmann::json* content = nullptr;
    if (j.is_object() && j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() &&
        j["choices"][0].is_object() && j["choices"][0].contains("message") && j["choices"][0]["message"].is_object() &&
        j["choices"][0]["message"].contains("content"))
      content = &j["choices"][0]["message"]["content"];
    if (!content || !content->is_string()) {
      t.ok = false;
      t.retryable = true;
      t.error = j.is_discarded() ? "the reply is not JSON" : "the reply has no choices[0].message.content string";
      return t;
    }
    result.content = content->get<std::string>();
    const nlohmann::json& choice = j["choices"][0];
    result.finish_reason = choice.contains("finish_reason") && choice["finish_reason"].is_string() ? choice["finish_reason"].get<std::string>() : "";
    result.model = j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : "";
    result.logprobs = choice.contains("logprobs") ? choice["logprobs"] : nlohmann::json();
    return t;
  }, result.attempts);
  result.ok = t.ok;
  result.status = t.status;
  result.body = t.body;
  if (!t.ok) {
    result.error = one_line(t.error);
    result.content.clear();
  }
  return result;
}

std::vector<std::string> ChatClient::models() const {
  std::vector<std::string> ids;
  int attempts = 0;
  const Try t = with_retries(*this, [&]() {
    Try t = send(endpoint_, options_, "GET", "/v1/models", {});
    if (!t.ok) return t;
    const nlohmann::json j = nlohmann::json::parse(t.body, nullptr, false);
    ids.clear();
    if (j.is_object() && j.contains("data") && j["data"].is_array())
      for (const auto& m : j["data"])
        if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
    if (ids.empty()) {
      t.ok = false;
      t.retryable = true;
      t.error = j.is_discarded() ? "the reply is not JSON" : "no data[].id in the reply";
    }
    return t;
  }, attempts);
  if (!t.ok)
    throw Error(endpoint_.url, "/v1/models", one_line(t.error) + " (after " + std::to_string(attempts) + " tries)");
  return ids;
}

}  // namespace quantlab
