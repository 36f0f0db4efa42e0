#pragma once
// How a quantized chat model's replies behave compared with its base model, on chat prompts
// (seed 000). For each prompt (a conversation up to its last user turn, rendered with the chat
// template's generation prompt and tokenized):
//  1. KLD on assistant tokens: the base's greedy reply (up to max_tokens, its end-of-turn token
//     included) is teacher-forced through each model; KL(base || model) and same-top-token are
//     accumulated over the reply positions only, never over the prompt. The base's own log-probs
//     come from its greedy decode, which Session guarantees to be bit-identical to a teacher-forced
//     pass over the same tokens (one-token decode and batched prefill run the same code).
//  2. Reply endings and 3. repetition (eval/chat_behaviour.hpp): every model, the base included,
//     generates its own greedy reply without stopping at its end-of-turn token, then is classified.
// Everything runs one prompt after another on the sessions given, so results do not depend on the
// thread count.
#include "quantlab/eval/chat_behaviour.hpp"
#include "quantlab/eval/kld.hpp"
#include "quantlab/model/session.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quantlab {

struct ChatPrompt {
  std::vector<int32_t> tokens;  // BOS (when the model uses one) + rendered template
  std::string where;            // file:line of the conversation
  std::string language;         // of its last user message (text::language_of); "" = not checked
};

struct ChatEvalOptions {
  int64_t max_tokens = 128;  // reply length limit
  int64_t after_end = 48;    // window generated after the reply's end-of-turn token
};

// What the driver needs from the tokenizer and the template.
struct ChatTextRules {
  std::set<int32_t> end_ids;          // tokens that end a reply (end of turn, EOS, ...)
  DecodeFn decode;                    // special tokens rendered as text
  std::vector<std::string> openers;   // template_turn_openers()
};

// One model's greedy generation after a prompt.
struct GeneratedReply {
  std::vector<int32_t> tokens;  // reply, then the window after its end (if it ended)
  int64_t end_index = -1;       // index of the reply's end token in `tokens`, or -1
  ReplyBehaviour behaviour;
  double kld_mean = 0;          // this prompt's mean KLD on the base reply (not for the base)
  // Sentence-embedding cosine similarity and L1 distance of this reply to the base's reply to the same
  // prompt (add_reply_distances; absent for the base and when no encoder was given).
  std::optional<double> cosine_to_base, l1_to_base;
};

struct ChatModelStats {
  int64_t replies = 0;
  int64_t clean_end = 0, new_turn = 0, never_ends = 0;
  int64_t new_turn_in_reply = 0, new_turn_after_end = 0;
  int64_t runaway = 0;
  int64_t wrong_language = 0;
  double mean_reply_tokens = 0, mean_repeated_4grams = 0;
  KldSummary kld;                          // count == 0 for the base
  std::optional<double> mean_cosine_to_base, mean_l1_to_base;  // add_reply_distances
  std::vector<GeneratedReply> per_prompt;  // in prompt order
};

struct ChatEvalResult {
  ChatModelStats base;
  std::vector<ChatModelStats> models;  // in the order of the sessions given
};

// Greedy generation from `first_logits` (the logits after the prompt, the session positioned right
// after it): up to max_tokens reply tokens, and after an end token up to after_end more, stopping
// at the next end token or as soon as the window opens a new turn (nothing after that changes the
// verdict). `on_reply_token(i, token, logits)` (may be empty) sees the logits that chose reply token
// i, for i up to and including the end token.
using ReplyTokenCallback = std::function<void(int64_t, int32_t, std::span<const float>)>;
GeneratedReply generate_chat_reply(Session& session, std::span<const float> first_logits, const ChatEvalOptions& o,
                                   const ChatTextRules& rules, const ReplyTokenCallback& on_reply_token = {});

// Sessions need a cache of at least the longest prompt + max_tokens + after_end tokens; the models
// must share the base's vocabulary. `on_prompt(i, n)` (may be empty) reports progress.
ChatEvalResult chat_eval(Session& base, const std::vector<Session*>& models, const std::vector<ChatPrompt>& prompts,
                         const ChatEvalOptions& o, const ChatTextRules& rules,
                         const std::function<void(size_t, size_t)>& on_prompt = {});

class SentenceEncoder;

// Seed 001's measure of how far the answers moved: each model's reply (up to its end token, which
// is left out, as is the window after it) and the base's reply to the same prompt are embedded with
// `encoder` (text from `reply_text`), and their cosine similarity and L1 distance stored per prompt
// and averaged per model.
void add_reply_distances(ChatEvalResult& r, const SentenceEncoder& encoder, const DecodeFn& reply_text);

}  // namespace quantlab
