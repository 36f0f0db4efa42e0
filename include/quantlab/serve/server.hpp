#pragma once
// quantlab serve: an OpenAI-compatible HTTP/1.1 server for one loaded model (GET /v1/models,
// POST /v1/chat/completions, POST /v1/completions, streamed as server-sent events or not; GET
// /health). Every failure a client can cause is an HTTP status with an OpenAI-style
// {"error": {"message", "type", "param", "code"}} body: malformed JSON or fields (400), a prompt or
// max_tokens beyond the context (400), an oversized body (413), an unknown path (404), no free
// slot before --timeout or a full queue (503). A streamed request whose client disconnects stops
// generating at the next token and frees its slot. docs/serve.md describes it for users.
#include "quantlab/backend/device.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/text/chat_template.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace quantlab::serve {

struct ServedModel {
  const Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const text::ChatTemplate* chat_template = nullptr;  // null: /v1/chat/completions is refused (400)
  std::string id;                                     // the name /v1/models lists
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() returns it)
  int parallel = 1;                 // generation slots (Sessions) running at the same time
  int threads_per_slot = 1;         // worker threads of each slot
  int64_t n_ctx = 0;                // tokens per slot (prompt + reply); 0: Session's default
  Device device;                    // where the slots run
  double timeout_s = 600;           // longest wait for a free slot before 503
  size_t max_queue = 64;            // requests waiting for a slot at most; more get 503 at once
  size_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  std::function<void(const std::string&)> log;  // one line per request (may be empty)
};

class Server {
 public:
  // Builds the slots (one Session each; weights are shared on the CPU, placed once per slot on a GPU).
  Server(const ServedModel& served, const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (the one picked when options.port is 0). Throws
  // Error naming the address when it cannot bind.
  int bind();
  // Serves until stop() (from any thread); returns once no request is being handled.
  void run();
  void stop();
  int64_t n_ctx() const;  // each slot's context

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantlab::serve
