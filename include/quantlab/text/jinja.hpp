#pragma once
// The project's own Jinja subset: enough of Jinja2 (as configured by transformers'
// apply_chat_template: trim_blocks, lstrip_blocks, loopcontrols, tojson, raise_exception,
// strftime_now) to render the chat templates that models ship, byte for byte.
//
// Supported: {{ }}, {% %}, {# #}, whitespace control (-, +), trim_blocks/lstrip_blocks, if/elif/else,
// for (loop.*, else, inline if filter, unpacking, break/continue), set (names, namespace attributes,
// blocks), macros, filters, tests, Python string/dict methods, slicing, `in`, comparisons, `~`.
// Errors are quantlab::Error(template name, "line N", message); a template's raise_exception(msg)
// becomes Error(template name, "raise_exception", msg).
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace quantlab::text {

namespace jinja_detail {
struct Program;
}

class JinjaTemplate {
 public:
  // Parses `source` (throws Error naming `name` and the line on a syntax error).
  JinjaTemplate(std::string_view source, std::string name = "chat_template");
  ~JinjaTemplate();
  JinjaTemplate(JinjaTemplate&&) noexcept;
  JinjaTemplate& operator=(JinjaTemplate&&) noexcept;

  // Renders with `context`'s keys as variables (an ordered_json keeps dict order for tojson).
  std::string render(const nlohmann::ordered_json& context) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::unique_ptr<jinja_detail::Program> program_;
};

}  // namespace quantlab::text
