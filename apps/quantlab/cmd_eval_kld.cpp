// quantlab eval kld: KL divergence of a model against its base, as llama-perplexity --kl-divergence.
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/kl_divergence.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace quantlab::cli {
namespace {

nlohmann::json summary_json(const KldSummary& s) {
  return {{"n_tokens_scored", s.count},
          {"ppl", s.ppl}, {"ppl_stderr", s.ppl_err},
          {"ppl_base", s.ppl_base}, {"ppl_base_stderr", s.ppl_base_err},
          {"ln_ppl_ratio", s.ln_ppl_ratio}, {"ln_ppl_ratio_stderr", s.ln_ppl_ratio_err},
          {"ppl_correlation", s.ppl_correlation},
          {"kld", {{"mean", s.kld_mean}, {"stderr", s.kld_err}, {"max", s.kld_max}, {"p99.9", s.kld_p999},
                   {"p99", s.kld_p99}, {"p95", s.kld_p95}, {"p90", s.kld_p90}, {"median", s.kld_median},
                   {"p10", s.kld_p10}, {"p5", s.kld_p05}, {"p1", s.kld_p01}, {"p0.1", s.kld_p001}, {"min", s.kld_min}}},
          {"delta_p", {{"mean", s.dp_mean}, {"stderr", s.dp_err}, {"max", s.dp_max}, {"p99.9", s.dp_p999},
                       {"p99", s.dp_p99}, {"p95", s.dp_p95}, {"p90", s.dp_p90}, {"p75", s.dp_p75},
                       {"median", s.dp_median}, {"p25", s.dp_p25}, {"p10", s.dp_p10}, {"p5", s.dp_p05},
                       {"p1", s.dp_p01}, {"p0.1", s.dp_p001}, {"min", s.dp_min},
                       {"rms", s.dp_rms}, {"rms_stderr", s.dp_rms_err}}},
          {"same_top", s.same_top}, {"same_top_stderr", s.same_top_err}};
}

void print_summary(const KldSummary& s) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl, s.ppl_err);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_base, s.ppl_base_err);
  std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * s.ppl_correlation);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n\n", s.ln_ppl_ratio, s.ln_ppl_ratio_err);
  std::printf("====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", s.kld_mean, s.kld_err);
  std::printf("Maximum KLD: %10.6f\n99.9%%   KLD: %10.6f\n99.0%%   KLD: %10.6f\n95.0%%   KLD: %10.6f\n", s.kld_max,
              s.kld_p999, s.kld_p99, s.kld_p95);
  std::printf("90.0%%   KLD: %10.6f\nMedian  KLD: %10.6f\nMinimum KLD: %10.6f\n\n", s.kld_p90, s.kld_median, s.kld_min);
  std::printf("====== Token probability statistics ======\n");
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s.dp_mean, 100 * s.dp_err);
  std::printf("Median  Δp: %6.3f%%\nRMS Δp    : %6.3f ± %5.3f %%\n", 100 * s.dp_median, 100 * s.dp_rms, 100 * s.dp_rms_err);
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * s.same_top, 100 * s.same_top_err);
}

int run_eval_kld(const Args& args) {
  const std::string model_path = args.require("model");
  const int modes = int(args.has("base")) + int(args.has("base-model")) + int(args.has("save-base"));
  if (modes != 1) throw Error("--base", "", "give exactly one of --base FILE, --base-model PATH and --save-base FILE");
  PerplexityOptions o;
  o.n_ctx = args.get_int("ctx", 512);
  o.n_chunks = args.get_int("chunks", -1);
  if (o.n_ctx < 4 || o.n_ctx > (1 << 20)) throw Error("--ctx", std::to_string(o.n_ctx), "must be between 4 and 1048576");
  ThreadPool pool(thread_count(args));
  const Device device = device_option(args);
  const bool json = args.has("json");
  const bool tty = !json && ::isatty(2);
  const auto progress = [&](int64_t i, int64_t n) {
    if (tty) std::fprintf(stderr, "\rchunk %lld/%lld", static_cast<long long>(i + 1), static_cast<long long>(n));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const Model model = load_model(model_path);
  if (!args.has("base")) check_context_length(args, model, o.n_ctx, args.has("ctx") ? "--ctx" : "--ctx (default)");
  o.add_bos = model.config.add_bos && !args.has("no-bos");
  o.bos_id = model.config.bos_id;
  nlohmann::json out{{"command", "eval kld"}, {"model", model_path}};

  if (args.has("save-base")) {
    const EvalInput input = load_eval_input(args, model_path);
    Session session(model, pool, o.n_ctx, device);
    const std::string path = args.require("save-base");
    save_base_logits(session, input.tokens, o, path, progress);
    if (tty) std::fprintf(stderr, "\n");
    out["saved_base"] = {{"path", path}, {"n_ctx", o.n_ctx}, {"n_chunks", chunk_count(int64_t(input.tokens.size()), o)}};
    out["input"] = {{"path", input.path}, {"sha256", sha256_file(input.path)}, {"kind", input.kind}};
    if (json) print_json(out);
    else std::printf("saved base log-probs to %s\n", path.c_str());
    return 0;
  }

  KldSummary s;
  if (args.has("base")) {
    if (args.has("ctx")) throw Error("--ctx", "", "not with --base: the base file's context is used");
    for (const char* flag : {"file", "ids", "tokenizer"})
      if (args.has(flag)) throw Error(std::string("--") + flag, "", "not with --base: the base file holds the tokens");
    const BaseLogitsFile base(args.require("base"));
    o.n_ctx = base.n_ctx();
    check_context_length(args, model, o.n_ctx, args.require("base") + ": n_ctx");
    Session session(model, pool, o.n_ctx, device);
    s = kl_divergence(session, base, o, progress);
    out["base"] = {{"path", args.require("base")}, {"n_ctx", base.n_ctx()}, {"n_chunks_in_file", base.n_chunk()}};
  } else {
    const std::string base_path = args.require("base-model");
    const Model base_model = load_model(base_path);
    check_context_length(args, base_model, o.n_ctx, args.has("ctx") ? "--ctx" : "--ctx (default)");
    const EvalInput input = load_eval_input(args, base_path);
    Session base(base_model, pool, o.n_ctx, device), test(model, pool, o.n_ctx, device);
    s = kl_divergence(base, test, input.tokens, o, progress);
    out["base"] = {{"model", base_path}};
    out["input"] = {{"path", input.path}, {"sha256", sha256_file(input.path)}, {"kind", input.kind}};
  }
  if (tty) std::fprintf(stderr, "\n");
  out["n_ctx"] = o.n_ctx;
  out["results"] = summary_json(s);
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["threads"] = pool.size();
  if (json) print_json(out);
  else print_summary(s);
  return 0;
}

QUANTLAB_COMMAND(Command{"eval kld",
                         "KL divergence against the base model's logits (llama-perplexity --kl-divergence statistics)",
                         {{"model", Takes::Value, "model to evaluate: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder (or, with --save-base, the base model)"},
                          {"base-model", Takes::Value, "base model, run side by side on the same chunks"},
                          {"base", Takes::Value, "base log-probs saved earlier (quantlab or llama-perplexity --save-all-logits)"},
                          {"save-base", Takes::Value, "write the --model's log-probs to this file and stop"},
                          {"file", Takes::Value, "text file, tokenized whole (not with --base)"},
                          {"ids", Takes::Value, "file of token ids (whitespace/comma separated, or tokenize --json's {\"ids\": [...]}), BOS included (not with --base)"},
                          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own, for GGUF)"},
                          {"ctx", Takes::Value, "context per chunk (default 512; --base uses the file's)"},
                          {"chunks", Takes::Value, "chunks to score (default: all)"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
                          {"no-bos", Takes::Nothing, "do not put BOS at the start of each chunk"},
                          allow_long_context_flag()},
                         run_eval_kld});

}  // namespace
}  // namespace quantlab::cli
