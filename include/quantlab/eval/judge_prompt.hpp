#pragma once
// The messages a judge is sent: a system message and a user message, each a text with
// placeholders ({question}, {answer_a}, ...) filled in one pass, so that a reply which itself
// contains "{answer_b}" is never expanded again. "{{" and "}}" stand for literal braces.
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

namespace quantlab {

struct JudgePrompt {
  std::string system;  // may be empty: then only the user message is sent
  std::string user;
  std::string source = "built-in";  // file path, or "built-in"

  // Throws Error naming `source` and the field ("system"/"user") for a placeholder not in
  // `allowed`, an unclosed brace, or a placeholder of `required` that appears in neither text.
  void check(const std::set<std::string>& allowed, const std::set<std::string>& required) const;
  nlohmann::ordered_json messages(const std::map<std::string, std::string>& values) const;
};

// Seed 001's A/B prompt (its system message, with the answer format spelled out), English:
// placeholders {question}, {answer_a}, {answer_b}.
JudgePrompt default_pairwise_prompt();

// An ELYZA-tasks-100 style 1-5 rubric, English: {question}, {reference}, {notes}, {answer}.
JudgePrompt default_score_prompt();

// A --prompt-template FILE: a JSON object {"system": "...", "user": "..."} ("system" optional), or
// any other text, which is the user message alone. Throws Error naming the file and field.
JudgePrompt read_judge_prompt(const std::string& path);

}  // namespace quantlab
