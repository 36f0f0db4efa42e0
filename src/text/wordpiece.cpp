#include "src/text/wordpiece.hpp"

#include "src/text/unicode_props.hpp"

#include <algorithm>

namespace quantlab::text_detail {

WordPiece::WordPiece(const Vocab& vocab, const TokenIndex& index) : vocab_(vocab), index_(index) {
  for (const auto& t : vocab.tokens) max_token_len_ = std::max(max_token_len_, t.size());
}

namespace {

// The CJK ideograph blocks BERT splits into single-character words (with the Hugging Face
// implementation's extension-range bounds).
bool is_cjk_ideograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace

std::vector<std::string> WordPiece::words(std::string_view text) const {
  using unicode::CharClass;
  std::vector<uint32_t> cps = unicode::decode_utf8(text);
  const bool strip_accents = vocab_.lowercase;
  if (strip_accents) {
    // Canonical decomposition, then the marks are dropped below. Outside Hangul a decomposition is a
    // base letter followed by marks, so its first code point is what remains; a Hangul syllable
    // decomposes (algorithmically) into two or three jamo, all kept where the decomposition is full.
    std::vector<uint32_t> decomposed;
    decomposed.reserve(cps.size());
    for (uint32_t c : cps) {
      constexpr uint32_t kSyllables = 0xAC00, kCount = 11172, kVowels = 21, kTrailing = 28;
      if (vocab_.full_decomposition && c >= kSyllables && c < kSyllables + kCount) {
        const uint32_t i = c - kSyllables;
        decomposed.push_back(0x1100 + i / (kVowels * kTrailing));
        decomposed.push_back(0x1161 + (i % (kVowels * kTrailing)) / kTrailing);
        if (i % kTrailing) decomposed.push_back(0x11A7 + i % kTrailing);
      } else {
        decomposed.push_back(unicode::nfd_first(c));
      }
    }
    cps = std::move(decomposed);
  }
  std::vector<std::string> words(1);
  for (uint32_t cp : cps) {
    if (unicode::is_white_space(cp)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const CharClass cls = unicode::char_class(cp);
    if (cp == 0 || cp == 0xFFFD || cls == CharClass::Control) continue;
    if (strip_accents && cls == CharClass::Mark) continue;
    std::string s;
    unicode::append_utf8(s, vocab_.lowercase ? unicode::to_lower(cp) : cp);
    if (cls == CharClass::Punctuation || (cp < 0x7F && cls == CharClass::Symbol) || is_cjk_ideograph(cp)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WordPiece::encode(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& word : words(text)) {
    if (word.empty()) continue;
    const size_t before = out.size();
    // Characters = bytes that do not continue a UTF-8 sequence (words() produced valid UTF-8).
    const auto chars = std::count_if(word.begin(), word.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; });
    if (vocab_.max_word_chars > 0 && chars > vocab_.max_word_chars) {
      if (vocab_.unk_id >= 0) out.push_back(vocab_.unk_id);
      continue;
    }
    const std::string w = "\xE2\x96\x81" + word;
    for (size_t i = 0; i < w.size(); ++i) {
      bool matched = false;
      for (size_t j = std::min(w.size(), i + max_token_len_ + 1); j > i; --j) {
        const int32_t id = index_.find(std::string_view(w).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          matched = true;
          i = j - 1;
          break;
        }
      }
      if (!matched) {
        out.resize(before);
        break;
      }
    }
    if (out.size() == before && vocab_.unk_id >= 0) out.push_back(vocab_.unk_id);
  }
}

}  // namespace quantlab::text_detail
