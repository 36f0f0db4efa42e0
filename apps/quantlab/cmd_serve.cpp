// quantlab serve: an OpenAI-compatible HTTP server for a model (library: quantlab/serve/server.hpp).
// This file only turns flags into ServerOptions and runs the server until SIGINT/SIGTERM.
#include "calibration_input.hpp"
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/serve/server.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace quantlab::cli {
namespace {

long long int_flag(const Args& a, const std::string& name, long long fallback, long long lo, long long hi) {
  const long long v = a.get_int(name, fallback);
  if (v < lo || v > hi)
    throw Error("--" + name, std::to_string(v), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

int run_serve(const Args& a) {
  const std::string model_path = a.require("model");
  // SIGINT/SIGTERM are taken by a thread of their own (sigwait), so every other thread, the
  // server's included, must start with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);

  const Model model = load_model(model_path);
  const std::optional<Tokenizer> tokenizer = tokenizer_for_model(a, model_path);
  if (!tokenizer) throw Error(model_path, "tokenizer", "this model has no tokenizer inside; give --tokenizer PATH");
  std::optional<text::ChatTemplate> chat_template = a.has("template") ? std::nullopt : calib::load_model_chat_template(model_path);
  if (auto t = a.get("template")) chat_template = load_template_file(*t, std::nullopt);

  serve::ServerOptions o;
  o.host = a.get_or("host", "127.0.0.1");
  o.port = int(int_flag(a, "port", 8080, 0, 65535));
  o.parallel = int(int_flag(a, "parallel", 1, 1, 256));
  const long long threads = int_flag(a, "threads", 0, 0, 1024);
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  o.threads_per_slot = threads > 0 ? int(threads) : std::max(1, cores / o.parallel);
  o.n_ctx = int_flag(a, "ctx", 0, 0, 1 << 20);
  o.timeout_s = a.get_double("timeout", 600);
  if (!(o.timeout_s > 0 && o.timeout_s <= 86400)) throw Error("--timeout", a.get_or("timeout", ""), "must be between 0 and 86400 seconds");
  o.max_queue = size_t(int_flag(a, "max-queue", 64, 0, 4096));
  o.max_body_bytes = size_t(int_flag(a, "max-body", 1 << 20, 1024, 1ll << 30));
  o.device = device_option(a);
  if (o.n_ctx > 0) check_context_length(a, model, o.n_ctx, "--ctx");
  const bool json = a.has("json");
  if (!a.has("quiet")) {
    static std::mutex log_mutex;
    o.log = [](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex);
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  serve::ServedModel served{&model, &*tokenizer, chat_template ? &*chat_template : nullptr,
                            a.get_or("alias", std::filesystem::path(model_path).filename().string())};

  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  serve::Server server(served, o);
  const int port = server.bind();
  // One line a script or a test can wait for (port 0 picks a free port and this line names it).
  std::fprintf(stderr, "quantlab serve: listening on http://%s:%d (model %s, %d slot%s of %lld tokens, %s)\n",
               o.host.c_str(), port, served.id.c_str(), o.parallel, o.parallel == 1 ? "" : "s",
               static_cast<long long>(server.n_ctx()), chat_template ? "chat template" : "no chat template");
  if (json)
    print_json({{"command", "serve"}, {"model", model_path}, {"id", served.id}, {"host", o.host}, {"port", port},
                {"parallel", o.parallel}, {"n_ctx", server.n_ctx()}, {"chat_template", chat_template.has_value()}});
  std::fflush(stdout);
  std::fflush(stderr);
  if (a.has("check")) return 0;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) server.stop();
  });
  server.run();
  // run() also returns when listening fails; wake the waiter so it can be joined.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

QUANTLAB_COMMAND(Command{"serve",
                         "OpenAI-compatible HTTP server for the model (chat, completions, streaming)",
                         {{"model", Takes::Value, "model: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder"},
                          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own)"},
                          {"template", Takes::Value, "chat template file (.jinja) or tokenizer_config.json instead of the model's"},
                          {"alias", Takes::Value, "model name shown by /v1/models (default: the file name)"},
                          {"host", Takes::Value, "address to listen on (default 127.0.0.1)"},
                          {"port", Takes::Value, "port (default 8080; 0 = any free port, printed on stderr)"},
                          {"parallel", Takes::Value, "requests generated at the same time, one KV cache each (default 1)"},
                          {"threads", Takes::Value, "worker threads per slot (default: all cores / --parallel)"},
                          {"ctx", Takes::Value, "tokens per slot, prompt and reply (default: the trained context, at most 4096)"},
                          device_flag(),
                          {"timeout", Takes::Value, "seconds a request may wait for a free slot before 503 (default 600)"},
                          {"max-queue", Takes::Value, "requests that may wait for a slot; more get 503 (default 64)"},
                          {"max-body", Takes::Value, "largest request body in bytes; larger gets 413 (default 1048576)"},
                          {"quiet", Takes::Nothing, "no line per request on stderr"},
                          {"check", Takes::Nothing, "load the model and bind the address, then exit"},
                          allow_long_context_flag()},
                         run_serve});

}  // namespace
}  // namespace quantlab::cli
