#include "quantlab/calib/sample_format.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template_text.hpp"

namespace quantlab::calib {
namespace {

std::string join_role(const Sample& s, const std::string& role) {
  std::string out;
  for (const auto& m : s.messages)
    if (m.role == role) out += (out.empty() ? "" : "\n\n") + m.content;
  return out;
}

}  // namespace

std::map<std::string, std::string> template_fields(const Sample& s) {
  std::map<std::string, std::string> f = s.fields;
  if (s.is_chat()) {
    f["system"] = join_role(s, "system");
    f["prompt"] = join_role(s, "user");
    f["response"] = join_role(s, "assistant");
  } else {
    f.emplace("prompt", s.text);
    f.emplace("text", s.text);
    f.emplace("response", "");
    f.emplace("system", "");
  }
  return f;
}

bool uses_chat_template(const Sample& s, const FormatOptions& opt) {
  return opt.mode == FormatMode::ChatTemplate && s.is_chat() && opt.chat_template != nullptr;
}

std::string format_sample(const Sample& s, const FormatOptions& opt) {
  switch (opt.mode) {
    case FormatMode::ChatTemplate: {
      if (!s.is_chat()) return s.text;
      if (!opt.chat_template) return format_sample(s, FormatOptions{FormatMode::Raw, nullptr, "", false});
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      for (const auto& m : s.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      try {
        return opt.chat_template->apply(msgs, opt.add_generation_prompt);
      } catch (const Error& e) {
        throw Error(s.where(), "chat template", e.what());
      }
    }
    case FormatMode::TextTemplate:
      try {
        return text::render_text_template(opt.text_template, template_fields(s));
      } catch (const Error& e) {
        throw Error(s.where(), "text template " + e.field(), e.message());
      }
    case FormatMode::Raw: {
      if (!s.is_chat()) return s.text;
      std::string out;
      for (const auto& m : s.messages) out += (out.empty() ? "" : "\n\n") + m.content;
      return out;
    }
  }
  return s.text;
}

}  // namespace quantlab::calib
