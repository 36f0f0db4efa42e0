#pragma once
// The chat template a model ships: tokenizer_config.json in a Hugging Face folder (or that file
// itself), or `tokenizer.chat_template` of a GGUF file with its BOS/EOS token texts.
#include "quantlab/text/chat_template.hpp"

#include <optional>
#include <string>

namespace quantlab::calib {

// nullopt when the model has no chat template (a base model); throws Error naming the file when
// the model cannot be read.
std::optional<text::ChatTemplate> load_model_chat_template(const std::string& model_path);

}  // namespace quantlab::calib
