#pragma once
// One generated answer for `eval answers` (seed 001): the prompt run through a Session, then tokens
// chosen by the sampler (greedy when the temperature is 0) until an end-of-generation token or
// max_tokens. Unlike eval chat's replies nothing is generated after the end token.
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace quantlab {

struct GeneratedAnswer {
  std::vector<int32_t> tokens;  // the answer, its end token left out
  std::string finish;           // "stop" (an end token came) or "length" (max_tokens reached)
};

// The session is rewound to 0 first; it needs room for prompt + max_tokens tokens.
GeneratedAnswer generate_answer(Session& session, std::span<const int32_t> prompt, const SamplingParams& sampling,
                                int64_t max_tokens, const std::set<int32_t>& end_ids);
// The same from `first_logits`, the logits after the prompt with the session positioned right after
// it (several runs of one prompt share one prefill: rewind to the prompt's length between them).
GeneratedAnswer continue_answer(Session& session, std::span<const float> first_logits, const SamplingParams& sampling,
                                int64_t max_tokens, const std::set<int32_t>& end_ids);

}  // namespace quantlab

#include "quantlab/eval/answer_store.hpp"

#include <functional>

namespace quantlab {

// Which runs each prompt gets: the greedy one (when `greedy`), then `seeds` sampled ones with
// seed i for run i (sampling.seed is ignored).
struct AnswerRunPlan {
  bool greedy = false;
  int64_t seeds = 0;
  SamplingParams sampling;
  int64_t max_tokens = 128;
};

// The store key of one reply: sha256 over the model's identity (e.g. its files' hashes), the prompt
// tokens, the sampler settings with the run's seed (-1: greedy), max_tokens and the end tokens.
std::string answer_key(const std::string& model_identity, std::span<const int32_t> prompt, const SamplingParams& run,
                       int64_t seed, int64_t max_tokens, const std::set<int32_t>& end_ids);

struct ConditionReplies {
  std::vector<std::vector<std::string>> text;  // [prompt][run]
  size_t generated = 0, reused = 0;
};

// Every prompt x run of one model on one prompt set: taken from `store` when the key is there,
// else generated on `session()` (called only when a reply must be generated, so a fully stored
// model is never run; it must return the same session throughout a call, since the runs of a
// prompt share its prefill) and added to the store. `decode` turns answer tokens into text.
ConditionReplies condition_replies(const std::string& prompt_set, const std::string& model_label,
                                   const std::string& model_identity, const std::vector<std::string>& prompt_ids,
                                   const std::vector<std::vector<int32_t>>& prompts, const AnswerRunPlan& plan,
                                   const std::set<int32_t>& end_ids, const std::function<Session&()>& session,
                                   const std::function<std::string(const std::vector<int32_t>&)>& decode,
                                   ReplyStore& store, const std::function<void(size_t, size_t)>& on_reply = {});

}  // namespace quantlab
