// The HTTP side of quantlab serve, on Debian's cpp-httplib: routes, status codes and bodies. The
// request checks, prompt building, slots and generation live in request/prompt/slot_pool/completion.
#include "quantlab/serve/server.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/serve/completion.hpp"
#include "quantlab/serve/prompt.hpp"
#include "quantlab/serve/request.hpp"
#include "quantlab/serve/slot_pool.hpp"
#include "src/serve/openai_json.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <optional>
#include <thread>

namespace quantlab::serve {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using detail::ReplyHeader;

// What a streamed reply needs after the handler has returned (httplib calls the content provider
// once the status line is out): the slot, held until the last token, and the request.
struct StreamJob {
  std::optional<SlotPool::Lease> lease;
  std::vector<int32_t> prompt;
  CompletionParams params;
  bool include_usage = false;
};


struct Server::Impl {
  Impl(const ServedModel& s, const ServerOptions& o)
      : served(s), options(o), slots(*s.model, o.parallel, o.threads_per_slot, o.n_ctx, o.device, o.max_queue) {}

  ServedModel served;
  ServerOptions options;
  SlotPool slots;
  httplib::Server http;
  std::atomic<bool> stopping{false}, running{false};
  int listen_fd = -1;
  std::atomic<uint64_t> counter{0}, seeds{0};
  int64_t started = std::time(nullptr);

  void install_routes();
  void complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void stream(httplib::Response& res, const ReplyHeader& h, std::shared_ptr<StreamJob> job);
  uint64_t fresh_seed();
};

namespace {

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& param = {}, const std::string& code = {}) {
  res.status = status;
  res.set_content(detail::wire(detail::error_body(message, type, param, code)), "application/json");
}

void send_error(httplib::Response& res, const RequestError& e) {
  send_error(res, e.status(), e.what(), e.type(), e.param(), e.code());
}

// A reason phrase's worth of text for statuses httplib produces itself (413, 404, 400 ...).
std::string status_message(int status) {
  switch (status) {
    case 400: return "malformed HTTP request";
    case 404: return "no such endpoint (quantlab serve has GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health)";
    case 405: return "method not allowed";
    case 413: return "the request body is larger than this server accepts (--max-body)";
    case 414: return "the request URI is too long";
    default: return "HTTP error " + std::to_string(status);
  }
}

std::string sse(const json& j) { return "data: " + detail::wire(j) + "\n\n"; }

}  // namespace

uint64_t Server::Impl::fresh_seed() {
  // No seed given: a different one per request (as OpenAI samples), from the clock and a counter.
  uint64_t z = uint64_t(Clock::now().time_since_epoch().count()) + 0x9E3779B97F4A7C15ull * (seeds.fetch_add(1) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Server::Impl::complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const auto arrived = Clock::now();
  CompletionRequest r;
  std::vector<int32_t> prompt;
  CompletionParams params;
  try {
    r = parse_completion_request(req.body, endpoint);
    prompt = prompt_tokens(r, *served.tokenizer, served.chat_template);
    params.max_tokens = reply_budget(int64_t(prompt.size()), r, slots.n_ctx());
  } catch (const RequestError& e) {
    return send_error(res, e);
  }
  params.sampling = r.sampling;
  if (!r.seeded) params.sampling.seed = fresh_seed();
  params.stop = r.stop;

  const auto deadline = arrived + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
  SlotPool::Refusal why;
  SlotPool::Lease lease = slots.acquire(deadline, why);
  if (!lease) {
    res.set_header("Retry-After", "1");
    if (why == SlotPool::Refusal::Closed) return send_error(res, 503, "the server is shutting down", "server_error", "", "shutting_down");
    if (why == SlotPool::Refusal::QueueFull)
      return send_error(res, 503, "the server is busy: every slot is generating and the queue is full (--max-queue)",
                        "server_error", "", "queue_full");
    return send_error(res, 503, "no slot became free within the server's timeout (--timeout)", "server_error", "", "timeout");
  }

  const uint64_t n = counter.fetch_add(1);
  ReplyHeader h{endpoint, (endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(started) + "-" + std::to_string(n),
                int64_t(std::time(nullptr)), served.id};
  if (r.stream) {
    auto job = std::make_shared<StreamJob>();
    job->lease.emplace(std::move(lease));
    job->prompt = std::move(prompt);
    job->params = std::move(params);
    job->include_usage = r.include_usage;
    return stream(res, h, job);
  }
  CompletionOutput out;
  try {
    out = run_completion(lease->session, *served.tokenizer, prompt, params,
                         [this](std::string_view) { return !stopping.load(); }, &lease->cached);
  } catch (const std::exception& e) {
    return send_error(res, 500, std::string("generation failed: ") + e.what(), "server_error");
  }
  if (out.finish == FinishReason::Cancelled) return send_error(res, 503, "the server is shutting down", "server_error");
  res.set_content(detail::wire(detail::completion_body(h, out)), "application/json");
}

void Server::Impl::stream(httplib::Response& res, const ReplyHeader& h, std::shared_ptr<StreamJob> job) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, h, job](size_t, httplib::DataSink& sink) {
    bool alive = true;
    auto send = [&](const std::string& text) {
      alive = alive && !stopping.load() && sink.write(text.data(), text.size());
      return alive;
    };
    if (h.endpoint == Endpoint::Chat) send(sse(detail::chunk_body(h, "", true, nullptr)));
    CompletionOutput out;
    out.finish = FinishReason::Cancelled;  // unless it runs (a client gone already is not served)
    if (alive) {
      try {
        Slot& slot = **job->lease;
        out = run_completion(
            slot.session, *served.tokenizer, job->prompt, job->params,
            [&](std::string_view piece) { return send(sse(detail::chunk_body(h, std::string(piece), false, nullptr))); },
            &slot.cached);
      } catch (const std::exception& e) {
        // The status line is sent already: the error travels as an event of its own.
        send(sse(detail::error_body(std::string("generation failed: ") + e.what(), "server_error", "", "")));
        out.finish = FinishReason::Cancelled;
      }
    }
    job->lease.reset();  // the slot is free before the last bytes leave
    if (alive && out.finish != FinishReason::Cancelled) {
      send(sse(detail::chunk_body(h, "", false, finish_reason_name(out.finish))));
      if (job->include_usage) send(sse(detail::usage_chunk_body(h, out.prompt_tokens, int64_t(out.tokens.size()))));
      send("data: [DONE]\n\n");
    }
    if (alive) sink.done();
    return alive;
  });
}

void Server::Impl::install_routes() {
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json model = {{"id", served.id}, {"object", "model"}, {"created", started}, {"owned_by", "quantlab"},
                  {"meta", {{"n_ctx", slots.n_ctx()}, {"n_vocab", served.model->config.n_vocab},
                            {"chat_template", served.chat_template != nullptr}}}};
    res.set_content(detail::wire({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(detail::wire({{"status", "ok"}, {"slots", slots.size()}, {"slots_busy", slots.busy()},
                                  {"waiting", slots.waiting()}}),
                    "application/json");
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, Endpoint::Chat); });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, Endpoint::Completion); });
  // Statuses httplib sets itself (bad request line, unknown path, body too large) get the same
  // error body as ours.
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) send_error(res, res.status, status_message(res.status), "invalid_request_error");
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "internal error: " + what, "server_error");
  });
  if (options.log)
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      options.log(req.remote_addr + " " + req.method + " " + req.path + " " + std::to_string(res.status));
    });
}

Server::Server(const ServedModel& served, const ServerOptions& options) {
  if (!served.model || !served.tokenizer) throw Error("serve", "model", "a model and its tokenizer are needed");
  if (options.parallel < 1) throw Error("serve", "parallel", "at least one slot is needed");
  // A client that leaves mid-reply must fail a write, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  impl_ = std::make_unique<Impl>(served, options);
  Impl& m = *impl_;
  const size_t workers = size_t(options.parallel) + options.max_queue + 8;
  m.http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  m.http.set_payload_max_length(options.max_body_bytes);
  m.http.set_socket_options([&m](socket_t sock) {
    httplib::default_socket_options(sock);
    m.listen_fd = sock;  // the listening socket (the server makes no other), for bind() below
  });
  m.install_routes();
}

Server::~Server() {
  if (impl_) stop();
}

int Server::bind() {
  Impl& m = *impl_;
  int port = m.options.port;
  if (port == 0) port = m.http.bind_to_any_port(m.options.host);
  else if (!m.http.bind_to_port(m.options.host, port)) port = -1;
  if (port < 0)
    throw Error(m.options.host + ":" + std::to_string(m.options.port), "", "cannot listen there (address in use or not local)");
  // cpp-httplib 0.11 listens with a backlog of 5, fixed when Debian built it: a burst of clients
  // overflows it and the kernel drops handshakes (a client then hangs until its own timeout).
  // listen() again on the listening socket only raises the backlog.
  if (m.listen_fd >= 0) ::listen(m.listen_fd, 1024);
  return port;
}

void Server::run() {
  Impl& m = *impl_;
  m.running = true;
  if (!m.stopping) m.http.listen_after_bind();
  m.running = false;
}

void Server::stop() {
  Impl& m = *impl_;
  m.stopping = true;
  m.slots.close();
  // stop() before listen has started would be lost: wait until it runs (or returned).
  while (m.running && !m.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  m.http.stop();
}

int64_t Server::n_ctx() const { return impl_->slots.n_ctx(); }

}  // namespace quantlab::serve
