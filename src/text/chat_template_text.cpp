#include "quantlab/text/chat_template_text.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab::text {

std::string render_text_template(const std::string& format, const std::map<std::string, std::string>& fields,
                                 const std::string& source) {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < format.size() && format[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      const size_t end = format.find('}', i);
      if (end == std::string::npos) throw Error(source, "offset " + std::to_string(i), "unclosed '{' in the template");
      const std::string name = format.substr(i + 1, end - i - 1);
      auto it = fields.find(name);
      if (it == fields.end()) throw Error(source, "{" + name + "}", "no such field in this sample");
      out += it->second;
      i = end;
    } else if (c == '}') {
      throw Error(source, "offset " + std::to_string(i), "single '}' in the template (write '}}')");
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace quantlab::text
