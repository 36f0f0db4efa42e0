#pragma once
// One error type for the whole library: it names the file (or other input), the field or offset
// inside it, and what was expected. The CLI turns it into one line on stderr (or a JSON object).
#include <stdexcept>
#include <string>

namespace quantlab {

class Error : public std::runtime_error {
 public:
  Error(std::string source, std::string field, std::string message)
      : std::runtime_error(format(source, field, message)),
        source_(std::move(source)),
        field_(std::move(field)),
        message_(std::move(message)) {}

  const std::string& source() const { return source_; }  // file path, dataset name, "--flag", ...
  const std::string& field() const { return field_; }    // key, tensor name, byte offset, line ...
  const std::string& message() const { return message_; }

 private:
  static std::string format(const std::string& source, const std::string& field, const std::string& message) {
    std::string s = source;
    if (!field.empty()) s += s.empty() ? field : ": " + field;
    if (!s.empty()) s += ": ";
    return s + message;
  }
  std::string source_, field_, message_;
};

}  // namespace quantlab
