#pragma once
// How a sample becomes the text that is tokenized: the model's chat template (default for chat
// samples when the model has one), an Olive-style text template, or the raw text.
#include "quantlab/calib/sample.hpp"
#include "quantlab/text/chat_template.hpp"

#include <string>

namespace quantlab::calib {

enum class FormatMode {
  ChatTemplate,  // chat samples through the model's template (joined as Raw when there is none)
  TextTemplate,  // every sample through `text_template` ({prompt}, {response}, {system}, fields)
  Raw,           // chat samples: turn contents joined by blank lines; text samples as they are
};

struct FormatOptions {
  FormatMode mode = FormatMode::ChatTemplate;
  const text::ChatTemplate* chat_template = nullptr;  // needed by ChatTemplate mode
  std::string text_template;                          // needed by TextTemplate mode
  bool add_generation_prompt = false;                 // calibration data includes the answers
};

// The fields a text template can name: the record's own string fields plus system (system turns),
// prompt (user turns) and response (assistant turns), each joined by blank lines.
std::map<std::string, std::string> template_fields(const Sample& s);

// Throws Error naming the sample's file and line (and the template's message) when it cannot render.
std::string format_sample(const Sample& s, const FormatOptions& opt);

// Whether the formatted text of `s` went through a chat template (the tokenizer must then parse
// special tokens and not add its own BOS twice).
bool uses_chat_template(const Sample& s, const FormatOptions& opt);

}  // namespace quantlab::calib
