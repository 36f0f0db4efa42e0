// quantlab eval ppl: llama.cpp-compatible chunked perplexity.
#include "command.hpp"
#include "token_ids.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/perplexity.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <chrono>
#include <cstdio>
#include <string>

namespace quantlab::cli {
namespace {

int run_eval_ppl(const Args& args) {
  const std::string model_path = args.require("model");
  if (args.has("file"))
    throw Error("--file", "", "text input needs a tokenizer, which this build does not have yet; use --ids");
  const std::string ids_path = args.require("ids");
  const std::vector<int32_t> tokens = read_token_ids_file(ids_path);
  const long long threads = args.get_int("threads", 0);
  if (threads < 0 || threads > 1024) throw Error("--threads", "", "must be between 0 (all cores) and 1024");
  PerplexityOptions o;
  o.n_ctx = args.get_int("ctx", 512);
  o.n_chunks = args.get_int("chunks", -1);
  if (o.n_ctx < 4 || o.n_ctx > (1 << 20)) throw Error("--ctx", "", "must be between 4 and 1048576");

  const Model model = load_model(model_path);
  o.add_bos = model.config.add_bos && !args.has("no-bos");
  o.bos_id = model.config.bos_id;
  if (o.add_bos && o.bos_id < 0) throw Error(model_path, "bos_token_id", "the model adds BOS but names no BOS token");
  ThreadPool pool(static_cast<int>(threads));
  Session session(model, pool, o.n_ctx);
  const bool json = args.has("json");
  const auto t0 = std::chrono::steady_clock::now();
  const PerplexityResult r = perplexity(session, tokens, o, [&](int64_t i, double ppl) {
    if (!json) {
      std::printf("[%lld]%.4f,", static_cast<long long>(i + 1), ppl);
      std::fflush(stdout);
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double evaluated = double(r.n_chunks * o.n_ctx);
  if (json) {
    print_json({{"command", "eval ppl"},
                {"model", model_path},
                {"input", {{"path", ids_path}, {"sha256", sha256_file(ids_path)}, {"n_tokens", r.n_tokens}}},
                {"n_ctx", o.n_ctx},
                {"n_chunks", r.n_chunks},
                {"n_scored", r.n_scored},
                {"add_bos", o.add_bos},
                {"ppl", r.ppl},
                {"ppl_stderr", r.ppl_stderr},
                {"mean_nll", r.mean_nll},
                {"nll_stderr", r.nll_stderr},
                {"running_ppl", r.running_ppl},
                {"threads", pool.size()},
                {"seconds", seconds},
                {"tokens_per_s", seconds > 0 ? evaluated / seconds : 0.0}});
  } else {
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
    std::fprintf(stderr, "%lld chunks of %lld tokens, %.1f tokens/s (%d threads)\n", static_cast<long long>(r.n_chunks),
                 static_cast<long long>(o.n_ctx), seconds > 0 ? evaluated / seconds : 0.0, pool.size());
  }
  return 0;
}

QUANTLAB_COMMAND(Command{"eval ppl",
                         "chunked perplexity, as llama.cpp's llama-perplexity computes it",
                         {{"model", Takes::Value, "model file (GGUF or llama2.c .bin)"},
                          {"file", Takes::Value, "text file (needs a tokenizer)"},
                          {"ids", Takes::Value, "file of token ids (whitespace or comma separated), BOS included"},
                          {"ctx", Takes::Value, "context per chunk (default 512)"},
                          {"chunks", Takes::Value, "chunks to score (default: all)"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"},
                          {"no-bos", Takes::Nothing, "do not put BOS at the start of each chunk"}},
                         run_eval_ppl});

}  // namespace
}  // namespace quantlab::cli
