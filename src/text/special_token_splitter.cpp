#include "src/text/special_token_splitter.hpp"

#include <algorithm>
#include <cctype>

namespace quantlab::text_detail {
namespace {

bool is_candidate(TokenKind k) {
  return k == TokenKind::Control || k == TokenKind::UserDefined || k == TokenKind::Unknown;
}
bool needs_parse_special(TokenKind k) { return k == TokenKind::Control || k == TokenKind::Unknown; }
bool is_ascii_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) : vocab_(vocab) {
  for (size_t id = 0; id < vocab.tokens.size(); ++id)
    if (is_candidate(vocab.kinds[id]) && !vocab.tokens[id].empty()) order_.push_back(static_cast<int32_t>(id));
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    return vocab.tokens[a].size() > vocab.tokens[b].size();
  });
  // A trie of all candidates finds, in one pass, which of them occur in a text at all; only
  // those take part in the (ordered, quadratic) splitting.
  trie_.emplace_back();
  for (int32_t id : order_) {
    uint32_t node = 0;
    for (char c : vocab.tokens[id]) {
      const auto b = static_cast<uint8_t>(c);
      uint32_t next = child(node, b);
      if (next == 0) {
        next = static_cast<uint32_t>(trie_.size());
        trie_.emplace_back();
        auto& ch = trie_[node].children;
        ch.insert(std::lower_bound(ch.begin(), ch.end(), std::pair<uint8_t, uint32_t>{b, 0}), {b, next});
      }
      node = next;
    }
    trie_[node].token = id;
  }
}

uint32_t SpecialTokenSplitter::child(uint32_t node, uint8_t byte) const {
  const auto& ch = trie_[node].children;
  const auto it = std::lower_bound(ch.begin(), ch.end(), std::pair<uint8_t, uint32_t>{byte, 0});
  return it != ch.end() && it->first == byte ? it->second : 0;
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({0, text.size(), -1});
  if (order_.empty()) return frags;

  std::vector<uint8_t> present(vocab_.tokens.size(), 0);
  bool any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    uint32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      node = child(node, static_cast<uint8_t>(text[j]));
      if (node == 0) break;
      if (trie_[node].token >= 0) present[trie_[node].token] = 1, any = true;
    }
  }
  if (!any) return frags;

  std::vector<Fragment> next;
  for (int32_t id : order_) {
    if (!present[id]) continue;
    if (!parse_special && needs_parse_special(vocab_.kinds[id])) continue;
    const std::string& tok = vocab_.tokens[id];
    const bool lstrip = !vocab_.lstrip.empty() && vocab_.lstrip[id];
    const bool rstrip = !vocab_.rstrip.empty() && vocab_.rstrip[id];
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t base = f.offset, len = f.length;
      while (true) {
        const size_t match = text.substr(0, base + len).find(tok, base);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back({base, len, -1});
          break;
        }
        size_t left_len = match - base;
        if (lstrip)
          while (left_len > 0 && is_ascii_space(text[base + left_len - 1])) --left_len;
        if (left_len > 0) next.push_back({base, left_len, -1});
        next.push_back({0, 0, id});
        size_t right = match + tok.size();
        size_t right_len = base + len - right;
        if (rstrip)
          while (right_len > 0 && is_ascii_space(text[right])) ++right, --right_len;
        base = right;
        len = right_len;
        if (len == 0) break;
      }
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace quantlab::text_detail
