// quantlab eval mc: multiple-choice accuracy (HellaSwag, ARC, ...) by log-likelihood, for one or
// more models, with paired differences against a base model.
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"
#include "progress_line.hpp"

#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/eval/multiple_choice.hpp"
#include "quantlab/model/session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace quantlab::cli {
namespace {

struct Scored {
  std::string path;
  std::vector<McQuestionScore> scores;
  double seconds = 0;
};

std::vector<McRule> rules_for(const std::vector<McQuestion>& qs) {
  std::vector<McRule> rules{McRule::Sum, McRule::PerToken, McRule::PerChar};
  if (std::any_of(qs.begin(), qs.end(), [](const McQuestion& q) { return q.uncond_context.has_value(); }))
    rules.push_back(McRule::Uncond);
  return rules;
}

nlohmann::ordered_json accuracy_json(const std::vector<McQuestionScore>& s, const std::vector<McRule>& rules) {
  nlohmann::ordered_json j;
  for (McRule r : rules) {
    const McAccuracy a = mc_accuracy(s, r);
    j[mc_rule_name(r)] = {{"acc", a.acc}, {"stderr", a.stderr_}, {"correct", a.correct}, {"n", a.n}};
  }
  return j;
}

int run_eval_mc(const Args& a) {
  const std::vector<std::string> model_paths = a.all("model");
  if (model_paths.empty()) throw Error("--model", "", "give at least one --model");
  const std::optional<std::string> base_path = a.get("base-model");
  const std::string data_path = a.require("data");
  const long long limit = a.get_int("limit", 0);
  const long long skip = a.get_int("skip-first", 0);
  if (limit < 0) throw Error("--limit", std::to_string(limit), "must not be negative");
  if (skip < 0) throw Error("--skip-first", std::to_string(skip), "must not be negative");
  const bool json = a.has("json");
  for (const std::string& p : model_paths) model_file_kind(p);  // a wrong path fails now, not after other models ran

  // One tokenizer for every model, so all of them answer the very same token sequences.
  const std::string tok_source = base_path ? *base_path : model_paths.front();
  const std::optional<Tokenizer> tok = tokenizer_for_model(a, tok_source);
  if (!tok) throw Error("--tokenizer", "", tok_source + " carries no tokenizer; give --tokenizer");

  std::vector<McQuestion> all = read_mc_questions(data_path);
  const size_t available = all.size();
  if (size_t(skip) >= all.size()) throw Error("--skip-first", std::to_string(skip), "leaves no question of " + data_path);
  std::vector<McQuestion> qs(all.begin() + skip, limit > 0 ? all.begin() + std::min<size_t>(all.size(), size_t(skip + limit)) : all.end());
  all.clear();
  std::vector<McTokens> toks;
  int64_t longest = 0;
  for (const McQuestion& q : qs) {
    toks.push_back(tokenize_question(*tok, q));
    longest = std::max(longest, longest_sequence(toks.back()));
  }
  const std::vector<McRule> rules = rules_for(qs);

  ThreadPool pool(thread_count(a));

  const Device device = device_option(a);
  auto score_model = [&](const std::string& path) {
    Scored s{path, {}, 0};
    const auto t0 = std::chrono::steady_clock::now();
    const Model model = load_model(path);
    Session session(model, pool, longest, device);
    ProgressLine progress("eval mc " + path);
    for (size_t i = 0; i < qs.size(); ++i) {
      s.scores.push_back(score_question(session, toks[i], qs[i]));
      if (!json) progress.update(int64_t(i + 1), int64_t(qs.size()));
    }
    progress.finish();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
  };
  std::optional<Scored> base;
  if (base_path) base = score_model(*base_path);
  std::vector<Scored> models;
  for (const std::string& p : model_paths) models.push_back(score_model(p));

  nlohmann::ordered_json out{{"command", "eval mc"}};
  out["data"] = {{"path", data_path}, {"sha256", sha256_file(data_path)}, {"questions_in_file", available},
                 {"skipped_first", skip}, {"questions", qs.size()}, {"with_uncond", rules.size() == 4}};
  out["scoring"] = "choice = context + continuation tokenized whole (BOS per vocabulary); log-probability of the "
                   "tokens after the prefix all choices share (llama.cpp's HellaSwag method)";
  auto model_json = [&](const Scored& s) {
    nlohmann::ordered_json j{{"model", s.path}, {"accuracy", accuracy_json(s.scores, rules)}, {"seconds", s.seconds}};
    if (base) {
      nlohmann::ordered_json p;
      for (McRule r : rules) {
        const McPaired d = mc_paired(s.scores, base->scores, r);
        p[mc_rule_name(r)] = {{"delta_acc", d.delta_acc}, {"delta_stderr", d.delta_stderr}, {"same_answer", d.same_answer},
                              {"gained", d.gained}, {"lost", d.lost}, {"n", d.n}};
      }
      j["vs_base"] = p;
    }
    return j;
  };
  if (base) out["base"] = model_json(*base);
  out["models"] = nlohmann::ordered_json::array();
  for (const Scored& s : models) out["models"].push_back(model_json(s));
  if (a.has("per-question")) {
    nlohmann::ordered_json per = nlohmann::ordered_json::array();
    for (size_t i = 0; i < qs.size(); ++i) {
      nlohmann::ordered_json q{{"id", qs[i].id}, {"gold", qs[i].gold}, {"shared_prefix", toks[i].shared_prefix}};
      auto answers = [&](const McQuestionScore& s) {
        nlohmann::ordered_json j;
        for (McRule r : rules) j[mc_rule_name(r)] = s.answer(r);
        nlohmann::ordered_json lp = nlohmann::ordered_json::array(), nt = nlohmann::ordered_json::array();
        for (const McChoiceScore& c : s.choices) lp.push_back(c.logprob), nt.push_back(c.n_tokens);
        return nlohmann::ordered_json{{"answer", j}, {"logprob", lp}, {"n_tokens", nt}};
      };
      if (base) q["base"] = answers(base->scores[i]);
      q["models"] = nlohmann::ordered_json::array();
      for (const Scored& s : models) q["models"].push_back(answers(s.scores[i]));
      per.push_back(std::move(q));
    }
    out["per_question"] = per;
  }
  out["threads"] = pool.size();
  const std::string dumped = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto f = a.get("out")) write_file_atomic(*f, dumped.data(), dumped.size());
  if (json) {
    std::printf("%s", dumped.c_str());
    return 0;
  }
  std::printf("%s: %zu questions%s\n", data_path.c_str(), qs.size(), rules.size() == 4 ? " (with unconditioned contexts)" : "");
  std::printf("%-40s", "model");
  for (McRule r : rules) std::printf(" %18s", mc_rule_name(r));
  std::printf("\n");
  // The table shows the report's figures (computed once, above).
  auto row = [&](const nlohmann::ordered_json& m, bool vs_base) {
    const std::string path = m["model"];
    std::printf("%-40s", path.size() > 40 ? ("..." + path.substr(path.size() - 37)).c_str() : path.c_str());
    for (McRule r : rules) {
      const auto& acc = m["accuracy"][mc_rule_name(r)];
      std::printf("   %6.2f%% ± %5.2f%%", 100 * acc["acc"].get<double>(), 100 * acc["stderr"].get<double>());
    }
    std::printf("\n");
    if (!vs_base) return;
    std::printf("%-40s", "  vs base: delta (gained/lost)");
    for (McRule r : rules) {
      const auto& d = m["vs_base"][mc_rule_name(r)];
      std::printf("  %+6.2f%% (%3lld/%3lld)", 100 * d["delta_acc"].get<double>(), d["gained"].get<long long>(),
                  d["lost"].get<long long>());
    }
    std::printf("\n");
  };
  if (base) row(out["base"], false);
  for (const auto& m : out["models"]) row(m, bool(base));
  return 0;
}

QUANTLAB_COMMAND(Command{
    "eval mc",
    "multiple-choice accuracy by log-likelihood (HellaSwag, ARC, ...), paired against a base model",
    {{"model", Takes::Values, "model: GGUF, llama2.c .bin (with --tokenizer), Hugging Face folder or a quantize --out folder"},
     {"base-model", Takes::Value, "base model: its answers are compared question by question with each model's"},
     {"data", Takes::Value, "questions (.jsonl): lm-eval/OLMo loglikelihood requests or {context, choices, gold}"},
     {"tokenizer", Takes::Value, "tokenizer file (default: the base model's own, else the first model's, for GGUF)"},
     {"limit", Takes::Value, "score only the first N questions (after --skip-first; default: all)"},
     {"skip-first", Takes::Value, "ignore the file's first K questions"},
     {"per-question", Takes::Nothing, "with --json/--out: every question's answers and choice log-probabilities"},
     {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
     {"out", Takes::Value, "also write the JSON report to this file"},
     {"json", Takes::Nothing, "print one JSON object on stdout"}},
    run_eval_mc});

}  // namespace
}  // namespace quantlab::cli
