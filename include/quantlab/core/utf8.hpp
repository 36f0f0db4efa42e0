#pragma once
// UTF-8 validation and decoding (strict: no overlongs, no surrogates, max U+10FFFF).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace quantlab {

// Length in bytes of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c >> 5) == 0x6) n = 2, cp = c & 0x1f;
  else if ((c >> 4) == 0xe) n = 3, cp = c & 0x0f;
  else if ((c >> 3) == 0x1e) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) >> 6) != 0x2) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;  // overlong
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Offset of the first invalid byte, or s.size() if all of s is valid UTF-8.
inline size_t utf8_first_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return s.size();
}

inline bool is_valid_utf8(std::string_view s) { return utf8_first_invalid(s) == s.size(); }

}  // namespace quantlab
