#pragma once
// Multiple-choice accuracy by log-likelihood (HellaSwag, ARC, ...): every choice is the question's
// context followed by a continuation; the model "answers" the continuation it finds most likely.
//
// Scoring is llama.cpp's (`llama-perplexity --hellaswag`): each choice is tokenized whole (context +
// continuation, BOS as the vocabulary wants), the tokens all choices share are run once, and a
// choice's score is the log-probability of its tokens after that shared prefix. Four rules turn the
// scores into an answer, as the evaluation harnesses report them:
//   sum        total log-probability (lm-eval "acc");
//   per-token  mean over the scored tokens (llama.cpp's HellaSwag score);
//   per-char   total divided by the continuation's length in characters (lm-eval "acc_norm",
//              OLMo "acc_per_char");
//   uncond     total minus the continuation's log-probability after the unconditioned context
//              (OLMo "acc_uncond"; only for questions that come with one).
// Ties go to the first choice (as llama.cpp and numpy's argmax do).
#include "quantlab/model/session.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct McQuestion {
  std::string id;
  std::string context;
  std::vector<std::string> continuations;  // with their leading space, as appended to the context
  int gold = -1;
  std::optional<std::string> uncond_context;  // e.g. "Answer:" (OLMo's unconditioned requests)
};

// Reads a .jsonl file of either
//   lm-eval / OLMo loglikelihood requests: one line per (question, choice) with
//     {"doc_id", "idx", "doc": {"gold"}, "request": {"context", "continuation"}}; doc_id >= 1,000,000
//     are the unconditioned requests of question doc_id - 1,000,000; or
//   plain questions: {"context" (or "query"), "choices": [...], "gold"}, continuation = " " + choice.
// Errors name the file, the line and the field. Questions keep the file's order.
std::vector<McQuestion> read_mc_questions(const std::string& path);

enum class McRule { Sum, PerToken, PerChar, Uncond };
inline constexpr McRule kMcRules[] = {McRule::Sum, McRule::PerToken, McRule::PerChar, McRule::Uncond};
const char* mc_rule_name(McRule r);

struct McChoiceScore {
  double logprob = 0;         // sum over the scored tokens
  int64_t n_tokens = 0;       // tokens scored
  int64_t n_chars = 0;        // characters (code points) of the continuation
  double uncond_logprob = 0;  // the continuation after the unconditioned context (when given)
};

struct McQuestionScore {
  std::vector<McChoiceScore> choices;
  int gold = -1;
  bool has_uncond = false;
  int64_t shared_prefix = 0;  // tokens common to all choices (run once)
  int answer(McRule rule) const;  // -1 for Uncond without an unconditioned context
};

// Token sequences of one question, as scored.
struct McTokens {
  std::vector<std::vector<int32_t>> choices;  // context + continuation, BOS as the vocabulary wants
  int64_t shared_prefix = 0;                   // at least 1, and shorter than every choice
  std::vector<std::vector<int32_t>> uncond;   // uncond context + continuation (empty when none)
  int64_t uncond_prefix = 0;
};
McTokens tokenize_question(const Tokenizer& tok, const McQuestion& q);
int64_t longest_sequence(const McTokens& t);

McQuestionScore score_question(Session& session, const McTokens& t, const McQuestion& q);

struct McAccuracy {
  int64_t n = 0;       // questions that count for this rule
  int64_t correct = 0;
  double acc = 0;
  double stderr_ = 0;  // sample standard error of the mean (lm-eval's)
};
McAccuracy mc_accuracy(const std::vector<McQuestionScore>& scores, McRule rule);

// Two models on the same questions: how often their answers change, and the accuracy difference
// with the standard error of the paired per-question differences (far smaller than either
// accuracy's own error when the models mostly agree).
struct McPaired {
  int64_t n = 0;
  int64_t same_answer = 0;
  int64_t gained = 0;  // wrong in the base, right in the model
  int64_t lost = 0;    // right in the base, wrong in the model
  double delta_acc = 0, delta_stderr = 0;
};
McPaired mc_paired(const std::vector<McQuestionScore>& model, const std::vector<McQuestionScore>& base, McRule rule);

}  // namespace quantlab
