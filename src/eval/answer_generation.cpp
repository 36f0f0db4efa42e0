#include "quantlab/eval/answer_generation.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab {

GeneratedAnswer generate_answer(Session& session, std::span<const int32_t> prompt, const SamplingParams& sampling,
                                int64_t max_tokens, const std::set<int32_t>& end_ids) {
  if (prompt.empty()) throw Error("eval answers", "prompt", "no tokens");
  session.rewind(0);
  return continue_answer(session, session.forward_last(prompt), sampling, max_tokens, end_ids);
}

GeneratedAnswer continue_answer(Session& session, std::span<const float> first_logits, const SamplingParams& sampling,
                                int64_t max_tokens, const std::set<int32_t>& end_ids) {
  if (max_tokens < 1) throw Error("eval answers", "max_tokens", "must be at least 1");
  Sampler sampler(sampling);
  GeneratedAnswer a;
  std::span<const float> logits = first_logits;
  for (;;) {
    const int32_t tok = sampler.sample(logits);
    if (end_ids.count(tok)) {
      a.finish = "stop";
      return a;
    }
    a.tokens.push_back(tok);
    if (int64_t(a.tokens.size()) >= max_tokens) {
      a.finish = "length";
      return a;
    }
    logits = session.forward_last(std::span<const int32_t>(&a.tokens.back(), 1));
  }
}

}  // namespace quantlab

#include "quantlab/core/sha256.hpp"

#include <nlohmann/json.hpp>

namespace quantlab {

std::string answer_key(const std::string& model_identity, std::span<const int32_t> prompt, const SamplingParams& run,
                       int64_t seed, int64_t max_tokens, const std::set<int32_t>& end_ids) {
  nlohmann::ordered_json j{{"model", model_identity},
                           {"prompt", std::vector<int32_t>(prompt.begin(), prompt.end())},
                           {"seed", seed},
                           {"max_tokens", max_tokens},
                           {"end_ids", std::vector<int32_t>(end_ids.begin(), end_ids.end())}};
  if (seed >= 0)
    j["sampling"] = {{"temperature", run.temperature}, {"top_k", run.top_k}, {"top_p", run.top_p}, {"min_p", run.min_p}};
  const std::string s = j.dump();
  return sha256_hex(s.data(), s.size());
}

ConditionReplies condition_replies(const std::string& prompt_set, const std::string& model_label,
                                   const std::string& model_identity, const std::vector<std::string>& prompt_ids,
                                   const std::vector<std::vector<int32_t>>& prompts, const AnswerRunPlan& plan,
                                   const std::set<int32_t>& end_ids, const std::function<Session&()>& session,
                                   const std::function<std::string(const std::vector<int32_t>&)>& decode,
                                   ReplyStore& store, const std::function<void(size_t, size_t)>& on_reply) {
  if (prompt_ids.size() != prompts.size()) throw Error(prompt_set, "prompts", "one id per prompt expected");
  if (plan.seeds < 0) throw Error("eval answers", "seeds", "must not be negative");
  std::vector<int64_t> runs;
  if (plan.greedy) runs.push_back(-1);
  for (int64_t i = 0; i < plan.seeds; ++i) runs.push_back(i);
  ConditionReplies out;
  out.text.assign(prompts.size(), std::vector<std::string>(runs.size()));
  const size_t total = prompts.size() * runs.size();
  std::vector<float> first;  // the prompt's prefill logits, shared by its runs
  for (size_t p = 0; p < prompts.size(); ++p) {
    first.clear();
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string key = answer_key(model_identity, prompts[p], plan.sampling, runs[r], plan.max_tokens, end_ids);
      if (const StoredReply* s = store.find(key)) {
        out.text[p][r] = s->text;
        ++out.reused;
      } else {
        SamplingParams sp = plan.sampling;
        if (runs[r] < 0) sp.temperature = 0;
        else sp.seed = uint64_t(runs[r]);
        Session& ses = session();
        if (prompts[p].empty()) throw Error(prompt_set, "prompt " + prompt_ids[p], "no tokens");
        if (first.empty()) {
          ses.rewind(0);
          const std::span<const float> l = ses.forward_last(prompts[p]);
          first.assign(l.begin(), l.end());
        }
        ses.rewind(int64_t(prompts[p].size()));
        const GeneratedAnswer a = continue_answer(ses, first, sp, plan.max_tokens, end_ids);
        StoredReply sr{prompt_set, model_label, prompt_ids[p], runs[r], decode(a.tokens), int64_t(a.tokens.size()),
                       a.finish, key};
        store.add(sr);
        out.text[p][r] = sr.text;
        ++out.generated;
      }
      if (on_reply) on_reply(p * runs.size() + r + 1, total);
    }
  }
  return out;
}

}  // namespace quantlab
