// quantlab eval judge score: an LLM judge grades each reply of eval answers on a 1-5 rubric
// (ELYZA-tasks-100 style: the task, its reference answer and grading notes, the reply), over any
// OpenAI-compatible endpoint; per model the mean score with a bootstrap interval over prompts and,
// with --base, the paired difference from the base's scores (docs/judge.md).
#include "command.hpp"
#include "judge_session.hpp"
#include "progress_line.hpp"

#include "quantlab/eval/judge_stats.hpp"
#include "quantlab/eval/judge_verdict.hpp"

#include <chrono>
#include <cstdio>
#include <map>

namespace quantlab::cli {
namespace {

std::string shorten(const std::string& s, size_t n) { return s.size() > n ? "..." + s.substr(s.size() - (n - 3)) : s; }

int run_eval_judge_score(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> model_names = a.all("model");
  if (model_names.empty()) throw Error("--model", "", "give at least one --model (a model name of the replies)");
  JudgeSession js(a, "score", default_score_prompt(), {"question", "reference", "notes", "answer"}, {"question", "answer"});
  const ReplyIndex& replies = js.replies();
  // The base, when given, is graded first, and every model's scores are compared with its own.
  std::vector<std::string> models;
  std::optional<std::string> base;
  if (auto b = a.get("base")) {
    base = replies.resolve_model(*b, "--base");
    models.push_back(*base);
  }
  for (const std::string& m : model_names) {
    const std::string name = replies.resolve_model(m, "--model");
    if (std::find(models.begin(), models.end(), name) != models.end()) throw Error("--model", m, "given twice (or is the base)");
    models.push_back(name);
  }

  // Every reply to grade, each with its prompt (checked before anything is asked).
  struct Item {
    const IndexedReply* reply;
    const JudgedPrompt* prompt;
    size_t prompt_index;
  };
  std::map<std::pair<std::string, std::string>, size_t> prompt_index;
  std::vector<std::vector<Item>> items(models.size());
  for (size_t m = 0; m < models.size(); ++m)
    for (const ReplyId& id : replies.order)
      if (id.model == models[m]) {
        const IndexedReply* r = replies.find(id);
        const size_t p = prompt_index.emplace(std::make_pair(id.prompt_set, id.prompt_id), prompt_index.size()).first->second;
        items[m].push_back({r, &js.prompt_of(*r), p});
      }

  js.start();
  const std::string none = "(none given)";
  std::vector<JudgeTask> tasks;
  for (size_t m = 0; m < models.size(); ++m)
    for (const Item& it : items[m]) {
      const StoredReply& r = it.reply->reply;
      const nlohmann::ordered_json seed = r.seed < 0 ? nlohmann::ordered_json("greedy") : nlohmann::ordered_json(r.seed);
      tasks.push_back({{{"kind", "score"}, {"prompt_set", r.prompt_set}, {"prompt_id", r.prompt_id}, {"seed", seed}, {"model", models[m]}},
                       js.prompt().messages({{"question", it.prompt->question},
                                             {"reference", it.prompt->reference.value_or(none)},
                                             {"notes", it.prompt->notes.value_or(none)},
                                             {"answer", r.text}})});
    }
  ProgressLine progress("judgements");
  const std::vector<nlohmann::ordered_json> lines = js.ask_all(
      tasks,
      [](const std::string& content) {
        const std::optional<int> s = parse_score(content);
        return nlohmann::ordered_json{{"score", s ? nlohmann::ordered_json(*s) : nlohmann::ordered_json()}};
      },
      [&](size_t done, size_t total) { progress.update(int64_t(done), int64_t(total)); });
  progress.finish();

  size_t unreadable = 0, next = 0;
  std::vector<std::vector<ScoreJudgement>> judged(models.size());
  nlohmann::ordered_json per_reply = nlohmann::ordered_json::array();
  for (size_t m = 0; m < models.size(); ++m)
    for (const Item& it : items[m]) {
      const nlohmann::ordered_json& line = lines[next];
      const nlohmann::ordered_json& meta = tasks[next++].meta;
      ScoreJudgement j{it.prompt_index, std::nullopt};
      nlohmann::ordered_json row{{"prompt_set", meta["prompt_set"]}, {"prompt_id", meta["prompt_id"]}, {"seed", meta["seed"]},
                                 {"model", models[m]}, {"key", line["key"]}};
      if (line["answered"].get<bool>()) {
        const std::string content = line["reply"]["content"].get<std::string>();
        row["answer"] = content;
        j.score = parse_score(content);
        if (j.score) row["score"] = *j.score;
        else {
          ++unreadable;
          row["error"] = "unreadable score";
        }
      } else {
        row["error"] = line["error"];
      }
      judged[m].push_back(j);
      per_reply.push_back(std::move(row));
    }

  const BootstrapOptions& boot = js.bootstrap();
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  std::vector<ScoreSummary> summaries;
  std::vector<std::optional<MeanInterval>> diffs;
  for (size_t m = 0; m < models.size(); ++m) {
    summaries.push_back(summarize_scores(judged[m], boot));
    const ScoreSummary& s = summaries.back();
    nlohmann::ordered_json hist = nlohmann::ordered_json::object();
    for (const auto& [score, n] : s.histogram) hist[std::to_string(score)] = n;
    nlohmann::ordered_json r{{"model", models[m]}, {"role", base && m == 0 ? "base" : "model"}, {"judgements", s.judgements},
                             {"errors", s.errors}, {"readable", s.readable}, {"histogram", hist},
                             {"mean_score", interval_json(s.mean)}};
    diffs.emplace_back();
    if (base && m > 0) {
      diffs.back() = score_difference(judged[m], judged[0], boot);
      r["minus_base"] = interval_json(*diffs.back());
    }
    results.push_back(std::move(r));
  }

  nlohmann::ordered_json out{{"command", "eval judge score"}};
  out.update(js.provenance());
  if (base) out["base"] = *base;
  out["models"] = models;
  out["unreadable_scores"] = unreadable;
  out["results"] = results;
  out["per_reply"] = per_reply;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string result_path = js.write_result(out);
  if (js.json()) return 0;

  std::printf("judge %s at %s; scores 1-5, means over prompts [%g%% bootstrap interval]\n", js.judge_model().c_str(),
              a.require("endpoint").c_str(), 100 * boot.level);
  std::printf("  %-28s %6s %6s  %-22s %s\n", "model", "judged", "errors", "mean score", "minus base (paired)");
  for (size_t m = 0; m < models.size(); ++m) {
    const ScoreSummary& s = summaries[m];
    std::printf("  %-28s %6lld %6lld  %-22s %s\n", shorten(models[m] + (base && m == 0 ? " (base)" : ""), 28).c_str(),
                (long long)s.judgements, (long long)s.errors, interval_text(s.mean).c_str(),
                diffs[m] ? interval_text(*diffs[m], true).c_str() : "-");
  }
  std::printf("\nrequests: %zu asked (%zu failed after retries), %zu reused; unreadable scores: %zu\n", js.asked(), js.failed(),
              js.reused(), unreadable);
  std::printf("judgements: %s/judgements.jsonl; result: %s\n", js.out_dir().c_str(), result_path.c_str());
  return 0;
}

std::vector<FlagSpec> flags() {
  std::vector<FlagSpec> f{{"model", Takes::Values, "a model whose replies are graded: its name in the replies; repeatable"},
                          {"base", Takes::Value, "also grade this model and report each --model's paired difference from it"}};
  for (FlagSpec& s : judge_flags(true)) f.push_back(std::move(s));
  return f;
}

QUANTLAB_COMMAND(Command{"eval judge score",
                         "LLM judge over an OpenAI endpoint: each reply of eval answers graded 1-5 against the reference "
                         "(ELYZA-tasks-100 style), mean per model with bootstrap intervals",
                         flags(), run_eval_judge_score});

}  // namespace
}  // namespace quantlab::cli
