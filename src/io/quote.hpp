#pragma once
// Names taken from a file (tensor names, keys) go into error messages; a hostile name must not
// break the one-line error (newlines, control bytes) nor flood it (megabyte keys).
#include <string>
#include <string_view>

namespace quantlab::io_detail {

inline std::string printable_name(std::string_view s, size_t max_len = 96) {
  static const char* hex = "0123456789abcdef";
  std::string r = "'";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == max_len) {
      r += "...(" + std::to_string(s.size()) + " bytes)";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      r += "\\x";
      r += hex[c >> 4];
      r += hex[c & 15];
    } else {
      r += char(c);
    }
  }
  return r + "'";
}

}  // namespace quantlab::io_detail

namespace quantlab::io_detail {

// A key used as the field of an error: unchanged when it is short and printable, else escaped.
inline std::string printable_field(std::string_view s) {
  bool plain = s.size() <= 96;
  for (char c : s) plain = plain && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  if (plain) return std::string(s);
  const std::string q = printable_name(s);
  return q.substr(1, q.size() - 2);
}

}  // namespace quantlab::io_detail
