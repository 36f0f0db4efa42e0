// quantlab generate: runs the model on a prompt and samples a continuation.
#include "command.hpp"
#include "eval_input.hpp"
#include "device_option.hpp"
#include "model_tokenizer.hpp"
#include "token_ids.hpp"

#include "quantlab/backend/matmul.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace quantlab::cli {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int run_generate(const Args& args) {
  const std::string model_path = args.require("model");
  if (args.has("prompt") == args.has("prompt-ids")) throw Error("--prompt", "", "give exactly one of --prompt and --prompt-ids");
  const Model model = load_model(model_path);
  const std::optional<Tokenizer> tokenizer = tokenizer_for_model(args, model_path);
  std::vector<int32_t> prompt;
  if (args.has("prompt")) {
    if (!tokenizer) throw Error("--prompt", "", "this model has no tokenizer inside; give --tokenizer PATH or --prompt-ids");
    // As llama.cpp's completion tool: BOS per the vocabulary, special-token text parsed.
    prompt = tokenizer->encode(args.require("prompt"), true, true);
  } else {
    prompt = parse_token_ids(args.require("prompt-ids"), "--prompt-ids");
  }
  if (prompt.empty()) throw Error("--prompt", "", "encodes to no tokens");
  const long long n_predict = args.get_int("n", 64);
  if (n_predict < 0 || n_predict > (1 << 20)) throw Error("--n", std::to_string(n_predict), "must be between 0 and 1048576");
  const long long threads = args.get_int("threads", 0);
  if (threads < 0 || threads > 1024) throw Error("--threads", "", "must be between 0 (all cores) and 1024");
  SamplingParams sp;
  sp.temperature = float(args.get_double("temp", 0.0));
  sp.top_k = int32_t(args.get_int("top-k", 0));
  sp.top_p = float(args.get_double("top-p", 1.0));
  sp.min_p = float(args.get_double("min-p", 0.0));
  if (!(sp.temperature >= 0)) throw Error("--temp", std::to_string(sp.temperature), "must not be negative");
  if (sp.top_k < 0) throw Error("--top-k", std::to_string(sp.top_k), "must not be negative");
  if (!(sp.top_p > 0 && sp.top_p <= 1)) throw Error("--top-p", std::to_string(sp.top_p), "must be in (0, 1]");
  if (!(sp.min_p >= 0 && sp.min_p <= 1)) throw Error("--min-p", std::to_string(sp.min_p), "must be in [0, 1]");
  const long long seed = args.get_int("seed", 0);
  if (seed < 0) throw Error("--seed", std::to_string(seed), "must not be negative");
  sp.seed = uint64_t(seed);
  const bool ignore_eos = args.has("ignore-eos");

  const int64_t n_ctx = args.get_int("ctx", int64_t(prompt.size()) + n_predict);
  if (n_ctx < int64_t(prompt.size()) + n_predict || n_ctx > (1 << 20))
    throw Error("--ctx", std::to_string(n_ctx), "must hold the prompt and the generated tokens (" +
                                                    std::to_string(int64_t(prompt.size()) + n_predict) + ") and be at most 1048576");
  check_context_length(args, model, n_ctx, args.has("ctx") ? "--ctx" : "prompt + --n");
  ThreadPool pool(static_cast<int>(threads));
  const Device device = device_option(args);
  Session session(model, pool, n_ctx, device);
  Sampler sampler(sp);

  const auto t_prompt = Clock::now();
  std::span<const float> logits = session.forward_last(prompt);
  const double prompt_ms = ms_since(t_prompt);

  std::vector<int32_t> out;
  std::string stop = "length";
  const auto t_gen = Clock::now();
  // --ignore-eos as llama.cpp: end-of-generation tokens are banned (logit -inf), not sampled and skipped.
  std::vector<int32_t> banned;
  if (ignore_eos) {
    if (tokenizer) banned.assign(tokenizer->end_of_generation_ids().begin(), tokenizer->end_of_generation_ids().end());
    else if (model.config.eos_id >= 0) banned.push_back(model.config.eos_id);
  }
  std::vector<float> masked;
  for (long long i = 0; i < n_predict; ++i) {
    if (!banned.empty()) {
      masked.assign(logits.begin(), logits.end());
      for (int32_t id : banned)
        if (id >= 0 && size_t(id) < masked.size()) masked[size_t(id)] = -INFINITY;
      logits = masked;
    }
    const int32_t tok = sampler.sample(logits);
    out.push_back(tok);
    const bool end = tokenizer ? tokenizer->is_end_of_generation(tok) : tok == model.config.eos_id;
    if (end && !ignore_eos) {
      stop = "eos";
      break;
    }
    if (i + 1 < n_predict) {
      const int32_t one[1] = {tok};
      logits = session.forward_last(one);
    }
  }
  const double gen_ms = ms_since(t_gen);
  // Tokens actually decoded through the model (the last sampled one is never fed back).
  const double n_decoded = out.empty() ? 0.0 : double(out.size() - 1);

  const std::string text = tokenizer ? tokenizer->decode(out) : std::string();
  if (args.has("json")) {
    nlohmann::json j = {{"command", "generate"},
                {"model", model_path},
                {"prompt_ids", prompt},
                {"ids", out},
                {"n_prompt", prompt.size()},
                {"n_generated", out.size()},
                {"stop", stop},
                {"sampling", {{"temperature", sp.temperature}, {"top_k", sp.top_k}, {"top_p", sp.top_p},
                              {"min_p", sp.min_p}, {"seed", sp.seed}}},
                {"threads", pool.size()},
                {"kernel", matmul_kernel_name()},
                {"prompt_ms", prompt_ms},
                {"generate_ms", gen_ms},
                {"prompt_tokens_per_s", prompt_ms > 0 ? 1000.0 * double(prompt.size()) / prompt_ms : 0.0},
                {"generate_tokens_per_s", gen_ms > 0 ? 1000.0 * n_decoded / gen_ms : 0.0}};
    if (tokenizer) j["text"] = text;
    print_json(j);
  } else if (tokenizer) {
    std::printf("%s\n", text.c_str());
    std::fprintf(stderr, "ids:");
    for (int32_t id : out) std::fprintf(stderr, " %d", id);
    std::fprintf(stderr, "\n");
  }
  if (!args.has("json")) {
    std::string line;
    for (size_t i = 0; i < out.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(out[i]);
    }
    if (!tokenizer) std::printf("%s\n", line.c_str());
    std::fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s; generated: %zu tokens, %.1f tokens/s (%d threads)\n",
                 prompt.size(), prompt_ms > 0 ? 1000.0 * double(prompt.size()) / prompt_ms : 0.0, out.size(),
                 gen_ms > 0 ? 1000.0 * n_decoded / gen_ms : 0.0, pool.size());
  }
  return 0;
}

QUANTLAB_COMMAND(Command{"generate",
                         "continue a prompt with the model (greedy or sampled)",
                         {{"model", Takes::Value, "model: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder"},
                          {"prompt", Takes::Value, "prompt text (needs a tokenizer)", "p"},
                          {"prompt-ids", Takes::Value, "prompt as token ids: \"1 319 459\" or tokenize --json's {\"ids\": [...]}"},
                          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own, for GGUF)"},
                          {"n", Takes::Value, "tokens to generate (default 64)", "n"},
                          {"temp", Takes::Value, "temperature; 0 = greedy (default 0)"},
                          {"top-k", Takes::Value, "keep the k most likely tokens (0 = off)"},
                          {"top-p", Takes::Value, "keep the smallest set with this probability mass (1 = off)"},
                          {"min-p", Takes::Value, "drop tokens below min-p times the top probability (0 = off)"},
                          {"seed", Takes::Value, "random seed (default 0)", "s"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
                          {"ctx", Takes::Value, "KV cache size (default: prompt + n)"},
                          {"ignore-eos", Takes::Nothing, "never end: end-of-generation tokens are banned (as llama.cpp)"},
                          allow_long_context_flag()},
                         run_generate});

}  // namespace
}  // namespace quantlab::cli
