#include "quantlab/text/script_mix.hpp"

#include "quantlab/core/utf8.hpp"

namespace quantlab::text {

const char* script_name(Script s) {
  static const char* names[] = {"Latin", "Hiragana", "Katakana", "Han", "Hangul", "Cyrillic", "Greek",
                                "Arabic", "Hebrew", "Thai", "Devanagari", "Other"};
  return names[static_cast<size_t>(s)];
}

Script script_of(uint32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
      (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A))
    return Script::Latin;
  if (c >= 0x3041 && c <= 0x309F) return Script::Hiragana;
  if ((c >= 0x30A0 && c <= 0x30FF && c != 0x30FB) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F))
    return Script::Katakana;
  if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
      (c >= 0x20000 && c <= 0x2FA1F) || c == 0x3005 || c == 0x3007)
    return Script::Han;
  if ((c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F)) return Script::Hangul;
  if (c >= 0x0400 && c <= 0x052F) return Script::Cyrillic;
  if (c >= 0x0370 && c <= 0x03FF && c != 0x037E && c != 0x0387) return Script::Greek;
  if ((c >= 0x0600 && c <= 0x06FF && !(c >= 0x0660 && c <= 0x0669)) || (c >= 0x0750 && c <= 0x077F)) return Script::Arabic;
  if (c >= 0x05D0 && c <= 0x05EA) return Script::Hebrew;
  if (c >= 0x0E01 && c <= 0x0E5B) return Script::Thai;
  if (c >= 0x0900 && c <= 0x097F) return Script::Devanagari;
  return Script::Other;
}

void ScriptCounts::add(const ScriptCounts& o) {
  for (size_t k = 0; k < letters.size(); ++k) letters[k] += o.letters[k];
  codepoints += o.codepoints;
  whitespace += o.whitespace;
  digits += o.digits;
  punctuation += o.punctuation;
  symbols += o.symbols;
  invalid += o.invalid;
}

namespace {

bool is_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E) ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF0F) ||
         (c >= 0xFF1A && c <= 0xFF20) || c == 0x30FB || c == 0xA1 || c == 0xBF || c == 0xAB || c == 0xBB;
}

}  // namespace

ScriptCounts count_scripts(std::string_view s) {
  ScriptCounts out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      ++out.invalid;
      ++i;
      continue;
    }
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    uint32_t c = n == 1 ? b(0) : n == 2 ? (b(0) & 0x1fu) : n == 3 ? (b(0) & 0x0fu) : (b(0) & 0x07u);
    for (size_t k = 1; k < n; ++k) c = (c << 6) | (b(k) & 0x3fu);
    i += n;
    ++out.codepoints;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x3000 || c == 0xA0) ++out.whitespace;
    else if ((c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19)) ++out.digits;
    else if (is_punct(c)) ++out.punctuation;
    else if (const Script sc = script_of(c); sc != Script::Other) ++out[sc];
    else ++out.symbols;
  }
  return out;
}

std::string language_of(std::string_view utf8) {
  const ScriptCounts c = count_scripts(utf8);
  const size_t kana = c[Script::Hiragana] + c[Script::Katakana];
  size_t best = 0;
  Script top = Script::Other;
  for (size_t k = 0; k + 1 < c.letters.size(); ++k)
    if (c.letters[k] > best) best = c.letters[k], top = static_cast<Script>(k);
  if (best == 0) return "none";
  // Japanese mixes kana and Han; a text with any real share of kana is Japanese.
  const size_t cjk = kana + c[Script::Han];
  if (kana > 0 && cjk * 2 >= best && kana * 20 >= cjk) return "ja";
  switch (top) {
    case Script::Latin: return "en";
    case Script::Hiragana:
    case Script::Katakana: return "ja";
    case Script::Han: return "zh";
    case Script::Hangul: return "ko";
    case Script::Cyrillic: return "ru";
    case Script::Greek: return "el";
    case Script::Arabic: return "ar";
    case Script::Hebrew: return "he";
    case Script::Thai: return "th";
    case Script::Devanagari: return "hi";
    default: return "other";
  }
}

}  // namespace quantlab::text
