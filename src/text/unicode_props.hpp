#pragma once
// Code point properties the tokenizers need: general-category class, White_Space, simple
// lowercase, llama.cpp's "first code point of NFD" (accent stripping for BERT vocabularies), NFC,
// and UTF-8 <-> code point conversion.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::unicode {

enum class CharClass : uint8_t {
  Unassigned = 0, Letter = 1, Number = 2, Punctuation = 3, Symbol = 4, Mark = 5, Control = 6, Separator = 7,
};

CharClass char_class(uint32_t cp);
bool is_white_space(uint32_t cp);  // Unicode White_Space property
uint32_t to_lower(uint32_t cp);
uint32_t nfd_first(uint32_t cp);
std::string nfc(std::string_view utf8);  // expects valid UTF-8

// Decodes valid UTF-8; an invalid byte becomes U+FFFD (one per byte), as llama.cpp does.
std::vector<uint32_t> decode_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);
// Copy of s with every invalid UTF-8 byte replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace quantlab::unicode
