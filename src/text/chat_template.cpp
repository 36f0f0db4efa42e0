#include "quantlab/text/chat_template.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"

#include <fstream>
#include <sstream>

namespace quantlab::text {
namespace {

std::optional<std::string> token_text(const nlohmann::ordered_json& cfg, const char* key, const std::string& path) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  throw Error(path, key, "expected a string or {\"content\": ...}");
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name, ChatSpecialTokens tokens)
    : source_(std::move(source)), name_(std::move(name)), tokens_(std::move(tokens)), template_(source_, name_) {}

// Foreign exceptions (a number that overflows, a list entry that is not an object) name the file.
ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& path) try {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::ordered_json cfg;
  try {
    cfg = nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path, "byte " + std::to_string(e.byte), "invalid JSON");
  } catch (const nlohmann::json::exception&) {
    rethrow_as_error(path, "JSON");
  }
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null()) throw Error(path, "chat_template", "missing: this tokenizer has no chat template");
  std::string source;
  if (it->is_string()) {
    source = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& named : *it)
      if (named.value("name", "") == "default" && named.contains("template")) source = named["template"].get<std::string>();
    if (source.empty()) throw Error(path, "chat_template", "no template named \"default\"");
  } else {
    throw Error(path, "chat_template", "expected a string or a list of named templates");
  }
  ChatSpecialTokens t;
  t.bos_token = token_text(cfg, "bos_token", path);
  t.eos_token = token_text(cfg, "eos_token", path);
  t.unk_token = token_text(cfg, "unk_token", path);
  t.pad_token = token_text(cfg, "pad_token", path);
  return ChatTemplate(std::move(source), path + ":chat_template", std::move(t));
} catch (...) {
  rethrow_as_error(path, "chat_template");
}

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const nlohmann::ordered_json& extra, const nlohmann::ordered_json& tools) const {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  // As transformers does: keys whose value is null are dropped from every message (OpenAI's
  // content=null beside tool_calls), so a template sees them as undefined rather than None.
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    if (!m.is_object()) {
      msgs.push_back(m);
      continue;
    }
    nlohmann::ordered_json clean = nlohmann::ordered_json::object();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!it.value().is_null()) clean[it.key()] = it.value();
    // Reasoning goes by several names; transformers passes it as both `thinking` (first) and
    // `reasoning_content` (last), so templates reading either see it.
    const nlohmann::ordered_json* reasoning = nullptr;
    for (const char* k : {"reasoning_content", "thinking", "reasoning"})
      if (!reasoning && clean.contains(k)) reasoning = &clean[k];
    if (reasoning) {
      const nlohmann::ordered_json r = *reasoning;
      nlohmann::ordered_json aliased = nlohmann::ordered_json::object();
      aliased["thinking"] = r;
      for (auto it = clean.begin(); it != clean.end(); ++it) aliased[it.key()] = it.value();
      aliased["thinking"] = clean.contains("thinking") ? clean["thinking"] : r;
      aliased["reasoning_content"] = r;
      clean = std::move(aliased);
    }
    msgs.push_back(std::move(clean));
  }
  ctx["messages"] = std::move(msgs);
  ctx["tools"] = tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  if (tokens_.bos_token) ctx["bos_token"] = *tokens_.bos_token;
  if (tokens_.eos_token) ctx["eos_token"] = *tokens_.eos_token;
  if (tokens_.unk_token) ctx["unk_token"] = *tokens_.unk_token;
  if (tokens_.pad_token) ctx["pad_token"] = *tokens_.pad_token;
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
  return template_.render(ctx);
}

std::string ChatTemplate::end_of_turn() const {
  // Render one exchange with a marker answer; what the template writes between the answer and the
  // next turn's text (up to a newline) is the end-of-turn text.
  const std::string answer = "QUANTLAB_PROBE_ANSWER";
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array(
      {{{"role", "user"}, {"content", "QUANTLAB_PROBE_QUESTION"}}, {{"role", "assistant"}, {"content", answer}},
       {{"role", "user"}, {"content", "QUANTLAB_PROBE_NEXT"}}});
  std::string out;
  try {
    out = apply(msgs, false);
  } catch (const Error&) {
    return tokens_.eos_token.value_or("");
  }
  const size_t a = out.find(answer);
  const size_t next = out.find("QUANTLAB_PROBE_NEXT");
  if (a == std::string::npos || next == std::string::npos || next < a) return tokens_.eos_token.value_or("");
  std::string between = out.substr(a + answer.size(), next - a - answer.size());
  // Keep the first special-looking piece: "<...>" or "[...]", else the eos token if it occurs.
  const size_t lt = between.find_first_of("<[");
  if (lt != std::string::npos) {
    const char close = between[lt] == '<' ? '>' : ']';
    const size_t gt = between.find(close, lt);
    if (gt != std::string::npos) return between.substr(lt, gt - lt + 1);
  }
  if (tokens_.eos_token && between.find(*tokens_.eos_token) != std::string::npos) return *tokens_.eos_token;
  return "";
}

}  // namespace quantlab::text
