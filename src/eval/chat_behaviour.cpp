#include "quantlab/eval/chat_behaviour.hpp"
#include "quantlab/text/script_mix.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace quantlab {

const char* reply_ending_name(ReplyEnding e) {
  switch (e) {
    case ReplyEnding::Clean: return "clean-end";
    case ReplyEnding::NewTurn: return "new-turn";
    case ReplyEnding::NeverEnds: return "never-ends";
  }
  return "?";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// What the template writes before a turn's content: the text after the previous turn's end (or
// after the last line break when nothing ended before), trimmed.
std::string opener_before(const std::string& rendered, size_t marker, const std::string& end_of_turn) {
  std::string before = trim(std::string_view(rendered).substr(0, marker));
  size_t from = std::string::npos;
  if (!end_of_turn.empty()) {
    const size_t e = before.rfind(end_of_turn);
    if (e != std::string::npos) from = e + end_of_turn.size();
  }
  if (from == std::string::npos) {
    const size_t nl = before.rfind('\n');
    from = nl == std::string::npos ? 0 : nl + 1;
  }
  return trim(std::string_view(before).substr(from));
}

std::string lower_word(std::string_view text, size_t& i) {
  std::string w;
  while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
    w += char(std::tolower(static_cast<unsigned char>(text[i++])));
  return w;
}

// Role words that open a turn when followed by ':' ("User:", "**Assistant:**").
const std::set<std::string>& colon_roles() {
  static const std::set<std::string> s{"user", "assistant", "human", "ai", "bot", "system", "instruction", "response"};
  return s;
}
// Words that open a turn after "###" (Alpaca / Olive-style templates); the colon is optional there.
const std::set<std::string>& heading_roles() {
  static const std::set<std::string> s{"user",     "assistant", "human", "system", "instruction",
                                       "response", "input",     "question", "answer"};
  return s;
}

bool line_opens_turn(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (text.compare(i, 3, "###") == 0) {
    while (i < text.size() && text[i] == '#') ++i;
    while (i < text.size() && text[i] == ' ') ++i;
    return heading_roles().count(lower_word(text, i)) > 0;
  }
  while (i < text.size() && (text[i] == '#' || text[i] == '*' || text[i] == '>' || text[i] == '-' || text[i] == ' ' ||
                             text[i] == '_'))
    ++i;
  if (!colon_roles().count(lower_word(text, i))) return false;
  while (i < text.size() && (text[i] == '*' || text[i] == '_' || text[i] == ' ')) ++i;
  return i < text.size() && text[i] == ':';
}

}  // namespace

std::vector<std::string> template_turn_openers(const text::ChatTemplate& t) {
  const std::string mark = "QUANTLAB_TURN_PROBE";
  using J = nlohmann::ordered_json;
  // User and assistant turns after an exchange, so that an end of turn precedes them; the system
  // turn can only come first, right after whatever the template writes at the start (often BOS).
  const std::array<J, 3> probes = {
      J::array({{{"role", "user"}, {"content", "Hello"}}, {{"role", "assistant"}, {"content", "Hi"}},
                {{"role", "user"}, {"content", mark}}}),
      J::array({{{"role", "user"}, {"content", "Hello"}}, {{"role", "assistant"}, {"content", mark}}}),
      J::array({{{"role", "system"}, {"content", mark}}, {{"role", "user"}, {"content", "Hello"}}}),
  };
  const std::string eot = t.end_of_turn();
  const auto& bos = t.tokens().bos_token;
  std::vector<std::string> out;
  for (size_t k = 0; k < probes.size(); ++k) {
    std::string rendered;
    try {
      rendered = t.apply(probes[k], false);
    } catch (const Error&) {
      continue;  // e.g. a template that refuses system turns
    }
    const size_t m = rendered.find(mark);
    if (m == std::string::npos) continue;
    std::string o = opener_before(rendered, m, eot);
    // A first turn may start with the BOS text. It belongs to the opener only when later turns start
    // with it too (ChatML's BOS is "<|im_start|>"); otherwise (Llama 3's "<|begin_of_text|>") it goes.
    if (k == 2 && bos && !bos->empty() && o.compare(0, bos->size(), *bos) == 0) {
      const bool turns_start_with_bos =
          std::any_of(out.begin(), out.end(), [&](const std::string& x) { return x.compare(0, bos->size(), *bos) == 0; });
      if (!turns_start_with_bos) o = trim(std::string_view(o).substr(bos->size()));
    }
    // An opener must be told from prose: at least 3 bytes and some markup (not a bare "user").
    const bool markup = std::any_of(o.begin(), o.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)) && c != ' '; });
    if (o.size() >= 3 && markup && std::find(out.begin(), out.end(), o) == out.end()) out.push_back(std::move(o));
  }
  return out;
}

size_t find_new_turn(std::string_view text, const std::vector<std::string>& openers) {
  size_t best = std::string::npos;
  for (const std::string& o : openers) best = std::min(best, text.find(o));
  for (size_t line = 0; line < text.size() && line < best;) {
    if (line_opens_turn(text, line)) return line;
    const size_t nl = text.find('\n', line);
    if (nl == std::string::npos) break;
    line = nl + 1;
  }
  return best;
}

double repeated_4gram_share(std::span<const int32_t> tokens) {
  if (tokens.size() < 4) return 0.0;
  std::set<std::array<int32_t, 4>> distinct;
  const size_t total = tokens.size() - 3;
  for (size_t i = 0; i < total; ++i) distinct.insert({tokens[i], tokens[i + 1], tokens[i + 2], tokens[i + 3]});
  return 1.0 - double(distinct.size()) / double(total);
}

bool ends_in_loop(std::span<const int32_t> tokens, size_t window, size_t max_period) {
  const size_t n = tokens.size();
  if (window == 0 || n < window) return false;
  const size_t start = n - window;
  for (size_t p = 1; p <= max_period && p < window; ++p) {
    bool periodic = true;
    for (size_t i = start + p; i < n && periodic; ++i) periodic = tokens[i] == tokens[i - p];
    if (periodic) return true;
  }
  return false;
}

bool is_wrong_language(std::string_view expected, std::string_view reply) {
  auto letters = [](std::string_view l) { return l != "none" && l != "other" && !l.empty(); };
  auto family = [](std::string_view l) { return l == "zh" ? std::string_view("ja") : l; };
  return letters(expected) && letters(reply) && family(expected) != family(reply);
}

ReplyBehaviour classify_reply(std::span<const int32_t> generated, int64_t end_index, int64_t max_tokens,
                              const DecodeFn& decode, const std::vector<std::string>& openers) {
  const int64_t n = int64_t(generated.size());
  if (end_index >= n || max_tokens < 1) throw Error("chat eval", "end_index", "outside the generated tokens");
  ReplyBehaviour b;
  b.ended = end_index >= 0;
  const int64_t content_end = b.ended ? end_index : std::min(n, max_tokens);
  b.reply_tokens = b.ended ? end_index + 1 : content_end;
  const auto content = generated.subspan(0, size_t(content_end));

  const std::string text = decode(content);
  size_t at = find_new_turn(text, openers);
  if (at != std::string::npos) {
    b.new_turn_in_reply = true;
    b.new_turn_line = text.substr(at, 80);
  } else if (b.ended) {
    const std::string after = decode(generated.subspan(size_t(end_index + 1)));
    at = find_new_turn(after, openers);
    if (at != std::string::npos) {
      b.new_turn_after_end = true;
      b.new_turn_line = after.substr(at, 80);
    }
  }
  b.ending = (b.new_turn_in_reply || b.new_turn_after_end) ? ReplyEnding::NewTurn
             : b.ended                                     ? ReplyEnding::Clean
                                                           : ReplyEnding::NeverEnds;
  b.language = text::language_of(text);
  b.repeated_4grams = repeated_4gram_share(content);
  b.runaway = !b.ended && content_end >= max_tokens && ends_in_loop(content);
  return b;
}

}  // namespace quantlab
