#include "quantlab/eval/judge_prompt.hpp"

#include "quantlab/core/error.hpp"

#include <fstream>
#include <sstream>

namespace quantlab {

namespace {

// Calls `text(piece)` for literal text and `field(name)` for each {name}; throws naming `where`.
template <class Text, class Field>
void walk(const std::string& s, const std::string& source, const std::string& where, Text text, Field field) {
  std::string lit;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if ((c == '{' || c == '}') && i + 1 < s.size() && s[i + 1] == c) {
      lit += c;
      ++i;
      continue;
    }
    if (c == '}') throw Error(source, where, "a '}' without its '{' (write }} for a literal brace)");
    if (c != '{') {
      lit += c;
      continue;
    }
    const size_t end = s.find('}', i);
    if (end == std::string::npos) throw Error(source, where, "a '{' without its '}' (write {{ for a literal brace)");
    text(lit);
    lit.clear();
    field(s.substr(i + 1, end - i - 1));
    i = end;
  }
  text(lit);
}

}  // namespace

void JudgePrompt::check(const std::set<std::string>& allowed, const std::set<std::string>& required) const {
  std::set<std::string> used;
  for (const auto& part : {std::pair<const char*, const std::string*>{"system", &system}, {"user", &user}}) {
    const char* where = part.first;  // a plain variable: clang < 16 cannot capture a structured binding
    walk(*part.second, source, where, [](const std::string&) {}, [&](const std::string& name) {
      if (!allowed.count(name)) {
        std::string list;
        for (const std::string& a : allowed) list += (list.empty() ? "{" : ", {") + a + "}";
        throw Error(source, where, "unknown placeholder {" + name + "} (these are filled: " + list + ")");
      }
      used.insert(name);
    });
  }
  if (user.empty()) throw Error(source, "user", "the user message is empty");
  for (const std::string& r : required)
    if (!used.count(r)) throw Error(source, "user", "the placeholder {" + r + "} appears nowhere: the judge would not see it");
}

nlohmann::ordered_json JudgePrompt::messages(const std::map<std::string, std::string>& values) const {
  auto fill = [&](const std::string& s, const char* where) {
    std::string out;
    walk(s, source, where, [&](const std::string& t) { out += t; }, [&](const std::string& name) {
      const auto it = values.find(name);
      if (it == values.end()) throw Error(source, where, "no value for {" + name + "}");
      out += it->second;
    });
    return out;
  };
  nlohmann::ordered_json m = nlohmann::ordered_json::array();
  if (!system.empty()) m.push_back({{"role", "system"}, {"content", fill(system, "system")}});
  m.push_back({{"role", "user"}, {"content", fill(user, "user")}});
  return m;
}

JudgePrompt default_pairwise_prompt() {
  JudgePrompt p;
  // Seed 001's wording; the last sentence is added because small judges otherwise explain first and
  // the verdict can get lost (or cut by max_tokens).
  p.system =
      "Choose the better of the two answers \"A\" and \"B\" corresponding to the following Input.\n\n"
      "Answer \"A\" or \"B\" for the better one, or answer \"Even\" if you cannot decide. "
      "Reply with that one word only.";
  p.user = "# Input\n{question}\n\n# A\n{answer_a}\n\n# B\n{answer_b}\n";
  return p;
}

JudgePrompt default_score_prompt() {
  JudgePrompt p;
  p.system =
      "You grade an answer to a task on a scale from 1 to 5, using the reference answer and the grading notes "
      "when they are given.\n"
      "1: wrong, or does not do what the task asks.\n"
      "2: partly right, with major errors or omissions.\n"
      "3: mostly right, with some errors, or right but unhelpful.\n"
      "4: right, with small flaws.\n"
      "5: right and complete, nothing to improve.\n"
      "Reply with the score only, a single digit from 1 to 5.";
  p.user = "# Task\n{question}\n\n# Reference answer\n{reference}\n\n# Grading notes\n{notes}\n\n# Answer to grade\n{answer}\n";
  return p;
}

JudgePrompt read_judge_prompt(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the prompt template");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  JudgePrompt p;
  p.source = path;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k != "system" && k != "user") throw Error(path, k, "unknown key (a template object has \"system\" and \"user\")");
      if (!v.is_string()) throw Error(path, k, "must be a string");
    }
    if (!j.contains("user")) throw Error(path, "user", "missing");
    p.user = j["user"].get<std::string>();
    p.system = j.value("system", std::string());
  } else {
    p.user = text;
  }
  return p;
}

}  // namespace quantlab
