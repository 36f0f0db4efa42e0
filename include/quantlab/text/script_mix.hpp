#pragma once
// Which writing systems a text uses, by Unicode block: the basis of calibration's language mix
// report and ordered language mixing ("English then Japanese", seed 003) and of eval's
// wrong-language check (a Japanese question answered in English, seed 003).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace quantlab::text {

enum class Script { Latin, Hiragana, Katakana, Han, Hangul, Cyrillic, Greek, Arabic, Hebrew, Thai, Devanagari, Other, Count };

const char* script_name(Script s);
Script script_of(uint32_t codepoint);  // Other for digits, punctuation, symbols and unlisted scripts

struct ScriptCounts {
  std::array<size_t, static_cast<size_t>(Script::Count)> letters{};  // letters per script
  size_t codepoints = 0, whitespace = 0, digits = 0, punctuation = 0, symbols = 0, invalid = 0;
  size_t& operator[](Script s) { return letters[static_cast<size_t>(s)]; }
  size_t operator[](Script s) const { return letters[static_cast<size_t>(s)]; }
  void add(const ScriptCounts& o);
};

ScriptCounts count_scripts(std::string_view utf8);

// A coarse language label from the letters: "ja" (any kana), "ko" (Hangul), "zh" (Han without
// kana), "ru" (Cyrillic), "en" (Latin; any Latin-script language), "el", "ar", "he", "th", "hi",
// or "other"/"none". Good enough to order and balance calibration data, not to identify languages.
std::string language_of(std::string_view utf8);

}  // namespace quantlab::text
