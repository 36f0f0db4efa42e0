#pragma once
// A model's chat template (tokenizer_config.json `chat_template` or GGUF `tokenizer.chat_template`)
// rendered as transformers' apply_chat_template(tokenize=False) renders it.
#include "quantlab/text/jinja.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace quantlab::text {

struct ChatSpecialTokens {
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token;  // unset: undefined in the template
};

class ChatTemplate {
 public:
  ChatTemplate(std::string source, std::string name, ChatSpecialTokens tokens = {});

  // Reads `chat_template` (a string, or the "default" entry of a list of named templates) and the
  // special tokens (strings or {"content": ...}) of a tokenizer_config.json.
  static ChatTemplate from_tokenizer_config(const std::string& path);

  // messages: [{"role", "content", ...}] (null-valued keys are dropped, as transformers does);
  // `extra` adds variables (date_string, enable_thinking, ...).
  std::string apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                    const nlohmann::ordered_json& tools = nullptr) const;

  const std::string& source() const { return source_; }
  const std::string& name() const { return name_; }
  const ChatSpecialTokens& tokens() const { return tokens_; }
  // The text that closes an assistant turn in this template's output (<|im_end|>, <|eot_id|>,
  // <end_of_turn>, </s>, ...), found by rendering a probe conversation; "" when none.
  std::string end_of_turn() const;

 private:
  std::string source_, name_;
  ChatSpecialTokens tokens_;
  JinjaTemplate template_;
};

}  // namespace quantlab::text
