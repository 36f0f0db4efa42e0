#include "quantlab/eval/prompt_turns.hpp"

namespace quantlab {

std::optional<PromptTurns> until_last_user_turn(const calib::Sample& s) {
  size_t last_user = s.messages.size();
  for (size_t m = 0; m < s.messages.size(); ++m)
    if (s.messages[m].role == "user") last_user = m;
  if (last_user == s.messages.size()) return std::nullopt;
  PromptTurns t;
  t.messages.assign(s.messages.begin(), s.messages.begin() + long(last_user + 1));
  if (last_user + 1 < s.messages.size() && s.messages[last_user + 1].role == "assistant")
    t.reference = s.messages[last_user + 1].content;
  return t;
}

}  // namespace quantlab
