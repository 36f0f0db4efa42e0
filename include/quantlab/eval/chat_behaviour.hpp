#pragma once
// How a chat reply behaves at its end (seed 000: AWQ's concatenate-and-re-split calibration made a
// chat model invent new turns after its answer) and whether it loops. Pure functions over token
// ids and decoded text, so the rules are testable without a model; eval/chat_eval.hpp runs them.
//
// Definitions (docs/chat-eval.md repeats them):
//  * The reply is the greedy continuation of a prompt that ends with the template's generation
//    prompt, up to and including the first end-of-generation token (the template's end of turn,
//    EOS, ...), or the first `max_tokens` tokens when no such token comes.
//  * After that token, generation goes on (nothing is banned) for a window of at most `after_end`
//    tokens, stopping early at the next end-of-generation token: what a front end that does not stop
//    at the model's end of turn would show.
//  * A new turn is a template turn opener ("<|im_start|>user", "<|start_header_id|>assistant<|end_header_id|>",
//    ...) anywhere, or a line that starts, after optional spaces and markdown ('#', '*', '>', '-'),
//    with a role word (User, Assistant, Human, AI, Bot, System, Instruction, Response) followed by
//    ':', or with "### " and a role word (plus Input/Question/Answer). Headings like "### Steps" are
//    not turns.
//  * Ending, mutually exclusive, in this order: NewTurn (a new turn inside the reply text, or in the
//    window after its end-of-turn token); NeverEnds (no end-of-generation token within max_tokens);
//    Clean (ended, and the window after it opens no turn).
//  * Language (seed 003: a Japanese model answering in English): the reply text's language label
//    (text::language_of: ja for any kana, zh for Han without kana, ko, en for Latin letters, ...).
//    Wrong language: the prompt's last user message and the reply both have a label of letters
//    (not "none"/"other") and they differ, counting ja and zh as one (kanji-only Japanese reads zh).
//  * Repetition: share of repeated 4-grams of the reply's tokens (end token excluded):
//    1 - distinct/total; 0 for fewer than 4 tokens. Runaway: the reply never ended, filled
//    max_tokens, and its last 32 tokens repeat with a period of at most 16 tokens.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab {

namespace text {
class ChatTemplate;
}

enum class ReplyEnding { Clean, NewTurn, NeverEnds };
const char* reply_ending_name(ReplyEnding e);

// The texts with which `t` opens a user, assistant or system turn on the line that holds the
// turn's content, trimmed ("<|im_start|>user"); found by rendering probe conversations. Roles the
// template cannot render are left out.
std::vector<std::string> template_turn_openers(const text::ChatTemplate& t);

// Byte offset in `text` where a new turn starts (see above), or npos.
size_t find_new_turn(std::string_view text, const std::vector<std::string>& openers);

// 1 - distinct/total over the 4-grams of `tokens`; 0 when there are fewer than 4 tokens.
double repeated_4gram_share(std::span<const int32_t> tokens);

// The last `window` tokens repeat with a period p in 1..max_period (t[i] == t[i-p] for every i of
// the window with i-p inside it); false when there are fewer than `window` tokens.
bool ends_in_loop(std::span<const int32_t> tokens, size_t window = 32, size_t max_period = 16);

struct ReplyBehaviour {
  ReplyEnding ending = ReplyEnding::NeverEnds;
  bool ended = false;               // an end-of-generation token came within max_tokens
  int64_t reply_tokens = 0;         // reply length, its end token included
  bool new_turn_in_reply = false;   // a new turn inside the reply text
  bool new_turn_after_end = false;  // a new turn in the window after the end-of-turn token
  std::string new_turn_line;        // the text from where the first new turn starts (<= 80 bytes)
  double repeated_4grams = 0;
  bool runaway = false;
  std::string language;         // of the reply text (its end token and the window excluded)
  bool wrong_language = false;  // set by the driver, which knows the prompt's language
};

// Whether a reply labelled `reply` answers a question labelled `expected` in another language.
bool is_wrong_language(std::string_view expected, std::string_view reply);

using DecodeFn = std::function<std::string(std::span<const int32_t>)>;

// `generated`: the greedy tokens after the prompt (reply, then the window); `end_index`: index of the
// reply's end-of-generation token in it, or -1. `decode` renders tokens as text, special tokens
// included (so "<|im_start|>" is visible).
ReplyBehaviour classify_reply(std::span<const int32_t> generated, int64_t end_index, int64_t max_tokens,
                              const DecodeFn& decode, const std::vector<std::string>& openers);

}  // namespace quantlab
