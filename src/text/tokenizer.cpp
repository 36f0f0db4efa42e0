#include "quantlab/text/tokenizer.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/utf8.hpp"
#include "src/text/byte_level_bpe.hpp"
#include "src/text/byte_to_unicode.hpp"
#include "src/text/pretokenizer_patterns.hpp"
#include "src/text/sentencepiece_bpe.hpp"
#include "src/text/special_token_splitter.hpp"
#include "src/text/token_index.hpp"
#include "src/text/unicode_props.hpp"
#include "src/text/wordpiece.hpp"

#include <algorithm>
#include <optional>

namespace quantlab {

const char* tokenizer_algorithm_name(TokenizerAlgorithm a) {
  switch (a) {
    case TokenizerAlgorithm::SentencePieceBpe: return "sentencepiece-bpe";
    case TokenizerAlgorithm::ByteLevelBpe: return "byte-level-bpe";
    case TokenizerAlgorithm::WordPiece: return "wordpiece";
  }
  return "unknown";
}

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string escape_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char c : s) {
    if (c == ' ') out.append(kSpaceMarker);
    else out += c;
  }
  return out;
}

std::string unescape_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      out += ' ';
      i += kSpaceMarker.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

// Fills defaults and checks the vocabulary is coherent; every message names vocab.source.
void validate(Vocab& v) {
  const std::string& src = v.source;
  if (v.tokens.empty()) throw Error(src, "tokens", "vocabulary is empty");
  const size_t n = v.tokens.size();
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(src, "tokens", "too many tokens");
  if (v.kinds.empty()) v.kinds.assign(n, TokenKind::Normal);
  if (v.kinds.size() != n)
    throw Error(src, "token_type", std::to_string(v.kinds.size()) + " entries for " + std::to_string(n) + " tokens");
  if (!v.scores.empty() && v.scores.size() != n)
    throw Error(src, "scores", std::to_string(v.scores.size()) + " entries for " + std::to_string(n) + " tokens");
  if (v.lstrip.empty()) v.lstrip.assign(n, 0);
  if (v.rstrip.empty()) v.rstrip.assign(n, 0);
  if (v.lstrip.size() != n || v.rstrip.size() != n) throw Error(src, "lstrip/rstrip", "not one entry per token");
  for (size_t i = 0; i < n; ++i) {
    const size_t bad = utf8_first_invalid(v.tokens[i]);
    if (bad != v.tokens[i].size())
      throw Error(src, "tokens[" + std::to_string(i) + "]", "invalid UTF-8 at byte " + std::to_string(bad));
  }
  const auto check = [&](int32_t& id, const char* name) {
    if (id < -1 || id >= static_cast<int64_t>(n))
      throw Error(src, name, "token id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(n));
  };
  check(v.bos_id, "bos_token_id");
  check(v.eos_id, "eos_token_id");
  check(v.eot_id, "eot_token_id");
  check(v.eom_id, "eom_token_id");
  check(v.unk_id, "unknown_token_id");
  check(v.sep_id, "seperator_token_id");
  check(v.pad_id, "padding_token_id");
  if (v.add_bos && v.bos_id < 0) throw Error(src, "add_bos_token", "is true but there is no BOS token");
  if (v.add_eos && v.eos_id < 0) throw Error(src, "add_eos_token", "is true but there is no EOS token");
  if (v.algorithm == TokenizerAlgorithm::ByteLevelBpe && v.split_regexes.empty() && !v.pre.empty()) {
    const auto recipe = text_detail::pretokenizer_recipe(v.pre);
    if (!recipe) throw Error(src, "tokenizer.ggml.pre", "unknown pre-tokenizer '" + v.pre + "'");
    v.split_regexes = recipe->regexes;
  }
}

// End-of-turn token texts of the common chat formats, most specific first (llama.cpp's list).
const char* const kEndOfTurnTexts[] = {"<|eot_id|>",    "<|im_end|>",      "<|end|>", "<end_of_turn>",
                                       "<|endoftext|>", "<|end_of_text|>", "<EOT>",   "_<EOT>",
                                       // One literal in two: a hex escape would swallow the "e" of "end".
                                       ("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>")};


}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  text_detail::TokenIndex index;
  std::set<int32_t> eog;
  std::optional<text_detail::SpecialTokenSplitter> specials;
  std::optional<text_detail::SentencePieceBpe> spm;
  std::optional<text_detail::ByteLevelBpe> bpe;
  std::optional<text_detail::WordPiece> wpm;

  explicit Impl(Vocab v) : vocab(std::move(v)) {
    validate(vocab);
    index.reserve(vocab.tokens.size());
    for (size_t i = 0; i < vocab.tokens.size(); ++i)
      if (!index.insert(vocab.tokens[i], static_cast<int32_t>(i)))
        throw Error(vocab.source, "tokens[" + std::to_string(i) + "]",
                    "duplicate token '" + vocab.tokens[i] + "' (first at id " + std::to_string(index.find(vocab.tokens[i])) + ")");
    if (vocab.eot_id < 0) {
      for (const char* t : kEndOfTurnTexts) {
        const int32_t id = index.find(t);
        if (id >= 0 && vocab.kinds[id] != TokenKind::Normal) {
          vocab.eot_id = id;
          break;
        }
      }
    }
    for (int32_t id : {vocab.eos_id, vocab.eot_id, vocab.eom_id})
      if (id >= 0) eog.insert(id);
    for (const char* t : kEndOfTurnTexts)
      if (const int32_t id = index.find(t); id >= 0) eog.insert(id);
    if (const int32_t id = index.find("<|eom_id|>"); id >= 0) eog.insert(id);
    specials.emplace(vocab);
    switch (vocab.algorithm) {
      case TokenizerAlgorithm::SentencePieceBpe: spm.emplace(vocab, index); break;
      case TokenizerAlgorithm::ByteLevelBpe: bpe.emplace(vocab, index, vocab.split_regexes); break;
      case TokenizerAlgorithm::WordPiece: wpm.emplace(vocab, index); break;
    }
  }
};

Tokenizer::Tokenizer(Vocab vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

const Vocab& Tokenizer::vocab() const { return impl_->vocab; }
const std::set<int32_t>& Tokenizer::end_of_generation_ids() const { return impl_->eog; }

std::vector<int32_t> Tokenizer::encode(std::string_view raw, bool add_special, bool parse_special) const {
  const Vocab& v = impl_->vocab;
  std::vector<int32_t> out;
  // The regex engine and the word splitting want valid UTF-8; SentencePiece works on raw bytes
  // (invalid ones fall back to byte tokens), as llama.cpp does.
  std::string sanitized;
  std::string_view text = raw;
  if (v.algorithm != TokenizerAlgorithm::SentencePieceBpe && !is_valid_utf8(raw)) {
    sanitized = unicode::sanitize_utf8(raw);
    text = sanitized;
  }
  const auto fragments = impl_->specials->split(text, parse_special);
  const auto piece = [&](const text_detail::Fragment& f) { return text.substr(f.offset, f.length); };

  switch (v.algorithm) {
    case TokenizerAlgorithm::SentencePieceBpe: {
      if (add_special && v.add_bos) out.push_back(v.bos_id);
      text_detail::SentencePieceBpe::SegmentCache cache;
      bool prev_special = true;  // the first text piece gets the space prefix, and any after a special token
      for (const auto& f : fragments) {
        if (f.token >= 0) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        std::string s = (v.add_space_prefix && prev_special) ? " " : "";
        s.append(piece(f));
        impl_->spm->encode(escape_spaces(s), out, cache);
        prev_special = false;
      }
      if (add_special && v.add_eos) out.push_back(v.eos_id);
      break;
    }
    case TokenizerAlgorithm::ByteLevelBpe: {
      if (add_special && v.add_bos) out.push_back(v.bos_id);
      text_detail::ByteLevelBpe::WordCache cache;
      bool prev_special = true;
      for (const auto& f : fragments) {
        if (f.token >= 0) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        if (!v.byte_encode) {
          // SentencePiece converted to BPE: spaces become U+2581, with the same prefix rule.
          std::string s = (v.add_space_prefix && prev_special) ? " " : "";
          s.append(piece(f));
          impl_->bpe->encode(escape_spaces(v.normalize_nfc ? unicode::nfc(s) : s), out, cache);
        } else if (v.normalize_nfc) {
          impl_->bpe->encode(unicode::nfc(piece(f)), out, cache);
        } else {
          impl_->bpe->encode(piece(f), out, cache);
        }
        prev_special = false;
      }
      if (add_special && v.add_eos) out.push_back(v.eos_id);
      break;
    }
    case TokenizerAlgorithm::WordPiece: {
      if (add_special && v.add_bos) out.push_back(v.bos_id);
      for (const auto& f : fragments) {
        if (f.token >= 0) out.push_back(f.token);
        else impl_->wpm->encode(piece(f), out);
      }
      if (add_special && v.add_sep && v.sep_id >= 0) out.push_back(v.sep_id);
      else if (add_special && v.add_eos) out.push_back(v.eos_id);
      break;
    }
  }
  return out;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->vocab.tokens.size())
    throw Error("token id", std::to_string(id),
                "outside the vocabulary of " + std::to_string(impl_->vocab.tokens.size()) + " tokens");
}

const std::string& Tokenizer::token_text(int32_t id) const {
  check_id(id);
  return impl_->vocab.tokens[id];
}

int32_t Tokenizer::token_id(std::string_view text) const { return impl_->index.find(text); }

TokenKind Tokenizer::kind(int32_t id) const {
  check_id(id);
  return impl_->vocab.kinds[id];
}

bool Tokenizer::is_control(int32_t id) const { return kind(id) == TokenKind::Control; }

std::string Tokenizer::token_piece(int32_t id) const {
  check_id(id);
  const Vocab& v = impl_->vocab;
  const std::string& t = v.tokens[id];
  switch (v.kinds[id]) {
    case TokenKind::Control:
    case TokenKind::Unknown:
    case TokenKind::UserDefined:
      return t;
    case TokenKind::Byte:
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>')
        return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
      return t;
    default:
      break;
  }
  if (v.algorithm == TokenizerAlgorithm::ByteLevelBpe && v.byte_encode) {
    std::string out;
    for (uint32_t cp : unicode::decode_utf8(t)) {
      const int b = text_detail::unicode_to_byte(cp);
      if (b >= 0) out += static_cast<char>(b);
      else unicode::append_utf8(out, cp);  // a token outside the byte map: keep its text
    }
    return out;
  }
  return unescape_spaces(t);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Vocab& v = impl_->vocab;
  const bool strip_first_space = v.add_space_prefix || v.algorithm == TokenizerAlgorithm::WordPiece;
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    check_id(id);
    const TokenKind k = v.kinds[id];
    if (k == TokenKind::Control || k == TokenKind::Unknown) {
      if (skip_special) continue;  // a skipped token leaves the prefix removal to the next piece
      out += v.tokens[id];
      first = false;  // "<s> Hello", as Hugging Face and llama.cpp render it
      continue;
    }
    std::string p = token_piece(id);
    if (first && strip_first_space && !p.empty() && p[0] == ' ') p.erase(0, 1);  // the encoder's prefix
    first = false;
    out += p;
  }
  return out;
}

}  // namespace quantlab
