// quantlab eval judge pairwise: seed 001's A/B test by an LLM judge over any OpenAI-compatible
// endpoint. For every prompt and seed that the base and a candidate both answered (eval answers'
// replies), the judge sees the two replies twice -- base as A, then candidate as A -- and answers A,
// B or Even; per candidate: win/loss/even rates, P(candidate preferred) with Even as half and
// |P - 0.5|, the judge's first-slot preference, with bootstrap intervals over prompts
// (eval/judge_stats.hpp, docs/judge.md).
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

struct Item {
  const IndexedReply* base = nullptr;
  const IndexedReply* model = nullptr;
  const JudgedPrompt* prompt = nullptr;
  size_t prompt_index = 0, item_index = 0;
};

nlohmann::ordered_json seed_json(int64_t seed) {
  return seed < 0 ? nlohmann::ordered_json("greedy") : nlohmann::ordered_json(seed);
}

nlohmann::ordered_json summary_json(const PairwiseSummary& s) {
  return {{"judgements", s.judgements},
          {"errors", s.errors},
          {"readable", s.readable},
          {"wins", s.wins},
          {"losses", s.losses},
          {"evens", s.evens},
          {"win_rate", interval_json(s.win_rate)},
          {"loss_rate", interval_json(s.loss_rate)},
          {"even_rate", interval_json(s.even_rate)},
          {"p_candidate_preferred", interval_json(s.p_candidate)},
          {"abs_p_minus_half", s.p_candidate.n == 0 ? nlohmann::ordered_json{{"value", nullptr}, {"low", nullptr}, {"high", nullptr}}
                                                     : nlohmann::ordered_json{{"value", s.abs_p_minus_half}, {"low", s.abs_low}, {"high", s.abs_high}}},
          {"position_bias", {{"first_slot_wins", s.first_slot_wins}, {"second_slot_wins", s.second_slot_wins},
                             {"first_slot_preferred", interval_json(s.first_slot)}}},
          {"consistency", {{"items_both_orders", s.items_both_orders}, {"items_consistent", s.items_consistent}}}};
}

std::string shorten(const std::string& s, size_t n) { return s.size() > n ? "..." + s.substr(s.size() - (n - 3)) : s; }

int run_eval_judge_pairwise(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> model_names = a.all("model");
  if (model_names.empty()) throw Error("--model", "", "give at least one --model (a model name of the replies)");
  const std::string base_flag = a.require("base");
  JudgeSession js(a, "pairwise", default_pairwise_prompt(), {"question", "answer_a", "answer_b"},
                  {"question", "answer_a", "answer_b"});
  const ReplyIndex& replies = js.replies();
  const std::string base = replies.resolve_model(base_flag, "--base");
  std::vector<std::string> models;
  for (const std::string& m : model_names) {
    const std::string name = replies.resolve_model(m, "--model");
    if (name == base) throw Error("--model", m, "is the base");
    if (std::find(models.begin(), models.end(), name) != models.end()) throw Error("--model", m, "given twice");
    models.push_back(name);
  }

  // Every pair, checked before anything is asked: each reply's prompt must be found.
  std::map<std::pair<std::string, std::string>, size_t> prompt_index;
  std::map<ReplyId, size_t> item_index;
  std::vector<std::vector<Item>> items(models.size());
  std::vector<size_t> unpaired(models.size(), 0);
  for (size_t m = 0; m < models.size(); ++m) {
    for (const ReplyId& id : replies.order) {
      if (id.model != base) continue;
      const IndexedReply* b = replies.find(id);
      const IndexedReply* c = replies.find({id.prompt_set, models[m], id.prompt_id, id.seed});
      if (!c) {
        ++unpaired[m];
        continue;
      }
      Item it{b, c, &js.prompt_of(*b)};
      it.prompt_index = prompt_index.emplace(std::make_pair(id.prompt_set, id.prompt_id), prompt_index.size()).first->second;
      it.item_index = item_index.emplace(ReplyId{id.prompt_set, "", id.prompt_id, id.seed}, item_index.size()).first->second;
      items[m].push_back(it);
    }
    if (items[m].empty())
      throw Error("--model", model_names[m], "no reply of it pairs with one of --base (same prompt set, prompt and seed)");
  }

  js.start();
  // Every request first (--parallel of them in flight), then the answers in order.
  std::vector<JudgeTask> tasks;
  for (size_t m = 0; m < models.size(); ++m)
    for (const Item& it : items[m]) {
      const StoredReply& b = it.base->reply;
      for (const bool candidate_first : {false, true}) {
        const std::string& first = candidate_first ? it.model->reply.text : b.text;
        const std::string& second = candidate_first ? b.text : it.model->reply.text;
        const nlohmann::ordered_json meta{{"kind", "pairwise"}, {"prompt_set", b.prompt_set}, {"prompt_id", b.prompt_id},
                                          {"seed", seed_json(b.seed)}, {"base", base}, {"model", models[m]},
                                          {"order", candidate_first ? "model_first" : "base_first"},
                                          {"answer_a", candidate_first ? models[m] : base},
                                          {"answer_b", candidate_first ? base : models[m]}};
        tasks.push_back({meta, js.prompt().messages({{"question", it.prompt->question}, {"answer_a", first}, {"answer_b", second}})});
      }
    }
  ProgressLine progress("judgements");
  const std::vector<nlohmann::ordered_json> lines = js.ask_all(
      tasks,
      [](const std::string& content) {
        const std::optional<PairVerdict> v = parse_pair_verdict(content);
        return nlohmann::ordered_json{{"verdict", v ? nlohmann::ordered_json(verdict_name(*v)) : nlohmann::ordered_json()}};
      },
      [&](size_t done, size_t total) { progress.update(int64_t(done), int64_t(total)); });
  progress.finish();

  nlohmann::ordered_json per_item = nlohmann::ordered_json::array();
  std::vector<std::vector<PairJudgement>> judged(models.size());
  std::vector<std::map<std::string, std::vector<PairJudgement>>> judged_by_set(models.size());
  size_t unreadable = 0, next = 0;
  for (size_t m = 0; m < models.size(); ++m) {
    for (const Item& it : items[m]) {
      const StoredReply& b = it.base->reply;
      nlohmann::ordered_json row{{"prompt_set", b.prompt_set}, {"prompt_id", b.prompt_id}, {"seed", seed_json(b.seed)},
                                 {"model", models[m]}};
      for (const bool candidate_first : {false, true}) {
        const nlohmann::ordered_json& line = lines[next++];
        PairJudgement j{it.prompt_index, it.item_index, candidate_first, std::nullopt};
        nlohmann::ordered_json cell{{"key", line["key"]}};
        if (line["answered"].get<bool>()) {
          // Read again from the stored answer: a reused line is judged by today's reader.
          const std::string content = line["reply"]["content"].get<std::string>();
          cell["answer"] = content;
          if (const std::optional<PairVerdict> v = parse_pair_verdict(content)) {
            cell["verdict"] = verdict_name(*v);
            const bool first_wins = *v == PairVerdict::A;
            j.outcome = *v == PairVerdict::Even ? PairOutcome::Even
                        : first_wins == candidate_first ? PairOutcome::Win
                                                         : PairOutcome::Lose;
            cell["winner"] = *j.outcome == PairOutcome::Even ? "even" : *j.outcome == PairOutcome::Win ? "model" : "base";
          } else {
            ++unreadable;
            cell["error"] = "unreadable verdict";
          }
        } else {
          cell["error"] = line["error"];
        }
        row[candidate_first ? "model_first" : "base_first"] = cell;
        judged[m].push_back(j);
        judged_by_set[m][b.prompt_set].push_back(j);
      }
      per_item.push_back(std::move(row));
    }
  }

  const BootstrapOptions& boot = js.bootstrap();
  std::vector<PairwiseSummary> summaries;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (size_t m = 0; m < models.size(); ++m) {
    summaries.push_back(summarize_pairwise(judged[m], boot));
    nlohmann::ordered_json r{{"model", models[m]}, {"items", items[m].size()}, {"unpaired_base_replies", unpaired[m]}};
    r.update(summary_json(summaries.back()));
    nlohmann::ordered_json sets = nlohmann::ordered_json::array();
    for (const auto& [set, js_set] : judged_by_set[m]) {
      nlohmann::ordered_json s{{"prompt_set", set}};
      s.update(summary_json(summarize_pairwise(js_set, boot)));
      sets.push_back(std::move(s));
    }
    r["by_prompt_set"] = sets;
    results.push_back(std::move(r));
  }

  nlohmann::ordered_json out{{"command", "eval judge pairwise"}};
  out.update(js.provenance());
  out["base"] = base;
  out["models"] = models;
  out["unreadable_verdicts"] = unreadable;
  out["results"] = results;
  out["per_item"] = per_item;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string result_path = js.write_result(out);
  if (js.json()) return 0;

  std::printf("judge %s at %s; base %s; each pair asked in both orders; means over prompts [%g%% bootstrap interval]\n",
              js.judge_model().c_str(), a.require("endpoint").c_str(), base.c_str(), 100 * boot.level);
  std::printf("  %-28s %6s %6s %6s %6s %6s  %-22s %-22s %-22s %s\n", "model", "judged", "wins", "losses", "evens", "errors",
              "P(model preferred)", "|P - 0.5|", "first slot preferred", "same verdict both orders");
  for (size_t m = 0; m < models.size(); ++m) {
    const PairwiseSummary& s = summaries[m];
    char absb[64] = "-";
    if (s.p_candidate.n > 0) std::snprintf(absb, sizeof absb, "%.3f [%.3f,%.3f]", s.abs_p_minus_half, s.abs_low, s.abs_high);
    std::printf("  %-28s %6lld %6lld %6lld %6lld %6lld  %-22s %-22s %-22s %lld/%lld\n", shorten(models[m], 28).c_str(),
                (long long)s.judgements, (long long)s.wins, (long long)s.losses, (long long)s.evens, (long long)s.errors,
                interval_text(s.p_candidate).c_str(), absb, interval_text(s.first_slot).c_str(), (long long)s.items_consistent,
                (long long)s.items_both_orders);
  }
  std::printf("\nrequests: %zu asked (%zu failed after retries), %zu reused; unreadable verdicts: %zu\n", js.asked(), js.failed(),
              js.reused(), unreadable);
  std::printf("judgements: %s/judgements.jsonl; result: %s\n", js.out_dir().c_str(), result_path.c_str());
  return 0;
}

std::vector<FlagSpec> flags() {
  std::vector<FlagSpec> f{{"base", Takes::Value, "the reference model: its name in the replies (eval answers' --base, or its file name)"},
                          {"model", Takes::Values, "a candidate model's name in the replies; repeatable"}};
  for (FlagSpec& s : judge_flags(false)) f.push_back(std::move(s));
  return f;
}

QUANTLAB_COMMAND(Command{"eval judge pairwise",
                         "LLM judge over an OpenAI endpoint: base vs candidate replies (eval answers), A/B/Even in both orders, "
                         "P(candidate preferred), |P-0.5|, position bias",
                         flags(), run_eval_judge_pairwise});

}  // namespace
}  // namespace quantlab::cli
