// quantlab eval ppl: llama.cpp-compatible chunked perplexity.
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/perplexity.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cstdio>
#include <string>

namespace quantlab::cli {
namespace {

// --per-sample: every non-empty line of --file (or the --field of every record of a .jsonl file),
// optionally placed into --template at "{text}", is tokenized with BOS per the vocabulary and
// scored alone.
int run_per_sample(const Args& args, const std::string& model_path, const Model& model) {
  const std::string path = args.require("file");
  const std::optional<Tokenizer> tokenizer = tokenizer_for_model(args, model_path);
  if (!tokenizer) throw Error("--per-sample", "", "needs a tokenizer (GGUF model or --tokenizer)");
  const std::string field = args.get_or("field", "text");
  const std::string templ = args.get_or("template", "{text}");
  if (templ.find("{text}") == std::string::npos) throw Error("--template", "", "must contain {text}");
  const bool jsonl = path.size() >= 6 && path.substr(path.size() - 6) == ".jsonl";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  std::vector<std::vector<int32_t>> samples;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    std::string text = line;
    if (jsonl) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains(field) || !j[field].is_string())
        throw Error(path, "line " + std::to_string(line_no), "expected a JSON object with a string field '" + field + "'");
      text = j[field].get<std::string>();
    }
    std::string filled = templ;
    filled.replace(filled.find("{text}"), 6, text);
    samples.push_back(tokenizer->encode(filled, true, false));
  }
  const long long n_ctx = args.get_int("ctx", std::min<int64_t>(2048, model.config.n_ctx_train > 0 ? model.config.n_ctx_train : 2048));
  if (n_ctx < 4 || n_ctx > (1 << 20)) throw Error("--ctx", std::to_string(n_ctx), "must be between 4 and 1048576");
  check_context_length(args, model, n_ctx, "--ctx");
  ThreadPool pool(thread_count(args));
  const Device device = device_option(args);
  Session session(model, pool, n_ctx, device);
  const auto t0 = std::chrono::steady_clock::now();
  const PerSampleResult r = per_sample_perplexity(session, samples);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (args.has("json")) {
    print_json({{"command", "eval ppl"},
                {"mode", "per-sample"},
                {"model", model_path},
                {"input", {{"path", path}, {"sha256", sha256_file(path)}, {"n_samples", samples.size()},
                           {"n_tokens", r.overall.n_tokens}, {"template", templ}}},
                {"n_ctx", session.n_ctx()},
                {"n_scored_samples", r.overall.n_chunks},
                {"n_truncated", r.n_truncated},
                {"n_skipped", r.n_skipped},
                {"n_scored", r.overall.n_scored},
                {"ppl", r.overall.ppl},
                {"ppl_stderr", r.overall.ppl_stderr},
                {"mean_nll", r.overall.mean_nll},
                {"nll_stderr", r.overall.nll_stderr},
                {"sample_mean_nll", r.sample_nll},
                {"threads", pool.size()},
                {"device", session.backend().describe()},
                {"seconds", seconds}});
  } else {
    std::printf("Per-sample estimate: PPL = %.4f +/- %.5f over %lld samples, %lld tokens scored\n", r.overall.ppl,
                r.overall.ppl_stderr, static_cast<long long>(r.overall.n_chunks), static_cast<long long>(r.overall.n_scored));
  }
  return 0;
}

int run_eval_ppl(const Args& args) {
  const std::string model_path = args.require("model");
  if (args.has("per-sample")) {
    if (args.has("ids")) throw Error("--per-sample", "", "takes --file, not --ids");
    const Model model = load_model(model_path);
    return run_per_sample(args, model_path, model);
  }
  const int threads = thread_count(args);
  PerplexityOptions o;
  o.n_ctx = args.get_int("ctx", 512);
  o.n_chunks = args.get_int("chunks", -1);
  if (o.n_ctx < 4 || o.n_ctx > (1 << 20)) throw Error("--ctx", std::to_string(o.n_ctx), "must be between 4 and 1048576");

  const Model model = load_model(model_path);
  check_context_length(args, model, o.n_ctx, args.has("ctx") ? "--ctx" : "--ctx (default)");
  const EvalInput input = load_eval_input(args, model_path);
  const std::vector<int32_t>& tokens = input.tokens;
  const std::string& input_path = input.path;
  o.add_bos = model.config.add_bos && !args.has("no-bos");
  o.bos_id = model.config.bos_id;
  if (o.add_bos && o.bos_id < 0) throw Error(model_path, "bos_token_id", "the model adds BOS but names no BOS token");
  ThreadPool pool(threads);
  const Device device = device_option(args);
  Session session(model, pool, o.n_ctx, device);
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
                {"input", {{"path", input_path}, {"sha256", sha256_file(input_path)}, {"n_tokens", r.n_tokens},
                           {"kind", input.kind}}},
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
                {"device", session.backend().describe()},
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
                         {{"model", Takes::Value, "model: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder"},
                          {"file", Takes::Value, "text file, tokenized whole with the model's tokenizer"},
                          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own, for GGUF)"},
                          {"ids", Takes::Value, "file of token ids (whitespace/comma separated, or tokenize --json's {\"ids\": [...]}), BOS included"},
                          {"ctx", Takes::Value, "context per chunk (default 512; --per-sample: longest sample, default 2048 or the trained context)"},
                          {"chunks", Takes::Value, "chunks to score (default: all)"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
                          {"no-bos", Takes::Nothing, "do not put BOS at the start of each chunk"},
                          {"per-sample", Takes::Nothing, "score each line (or .jsonl record) of --file alone"},
                          {"field", Takes::Value, "with --per-sample on .jsonl: the text field (default text)"},
                          {"template", Takes::Value, "with --per-sample: text template containing {text}"},
                          allow_long_context_flag()},
                         run_eval_ppl});

}  // namespace
}  // namespace quantlab::cli
