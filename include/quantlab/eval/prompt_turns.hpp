#pragma once
// What a generation eval asks a model: a conversation cut after its last user turn (the model
// writes the next assistant turn), and the assistant turn the record had there, when it had one,
// as the reference answer. Shared by eval chat and eval answers.
#include "quantlab/calib/sample.hpp"

#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct PromptTurns {
  std::vector<calib::ChatMessage> messages;  // up to and including the last user turn
  std::optional<std::string> reference;      // the assistant message right after it
};

// nullopt for a raw text or a conversation without a user turn.
std::optional<PromptTurns> until_last_user_turn(const calib::Sample& s);

}  // namespace quantlab
