#pragma once
// One calibration sample: a conversation (role/content messages) or a raw text, with where it came
// from, so every later diagnostic or error can point back at the file and line.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace quantlab::calib {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  bool operator==(const ChatMessage&) const = default;
};

struct Sample {
  std::vector<ChatMessage> messages;  // non-empty for conversations
  std::string text;                   // the raw text when `messages` is empty
  std::string category;               // dolly's category or a mapped field; "" when none
  std::string source;                 // file path
  size_t line = 0;                    // 1-based line where the record starts
  // The record's top-level string fields as read (instruction, input, output, ...), for
  // Olive-style text templates that name them ("### Question: {instruction}").
  std::map<std::string, std::string> fields;

  bool is_chat() const { return !messages.empty(); }
  std::string where() const { return source + ":" + std::to_string(line); }
};

}  // namespace quantlab::calib
