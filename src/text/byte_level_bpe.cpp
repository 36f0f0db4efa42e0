#include "src/text/byte_level_bpe.hpp"

#include "src/text/byte_to_unicode.hpp"

#include <cstdio>
#include <queue>

namespace quantlab::text_detail {

ByteLevelBpe::ByteLevelBpe(const Vocab& vocab, const TokenIndex& index, const std::vector<std::string>& regexes)
    : vocab_(vocab), index_(index), splitter_(regexes, vocab.source) {
  merges_.reserve(vocab.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto& [a, b] = vocab.merges[rank];
    const int32_t ia = index.find(a), ib = index.find(b);
    joined.assign(a).append(b);
    const int32_t ir = index.find(joined);
    // A merge whose parts or result are not tokens can never produce an output token; skip it
    // (Hugging Face refuses such files, llama.cpp would fall back to bytes for the result).
    if (ia < 0 || ib < 0 || ir < 0) continue;
    merges_.emplace(pair_key(ia, ib), Merge{static_cast<int32_t>(rank), ir});  // first rank wins
  }
  for (int b = 0; b < 256; ++b) {
    if (vocab.byte_encode) {
      // llama.cpp looks up the single raw byte, which byte-level vocabularies mostly lack.
      const char c = static_cast<char>(b);
      byte_tokens_[b] = index.find(std::string_view(&c, 1));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      byte_tokens_[b] = index.find(hex);
    }
  }
}

namespace {

struct Symbol {
  int32_t id;  // -1: a character that is no token
  int32_t prev, next;
  uint32_t offset, length;
};

struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id, right_id;
};

struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

size_t utf8_lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

}  // namespace

void ByteLevelBpe::encode_word(std::string_view raw_word, std::vector<int32_t>& out) const {
  const std::string encoded = vocab_.byte_encode ? bytes_to_unicode_text(raw_word) : std::string(raw_word);
  const std::string_view word = encoded;
  if (vocab_.ignore_merges) {
    const int32_t id = index_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t off = 0; off < word.size();) {
    const size_t n = std::min(utf8_lead_length(static_cast<unsigned char>(word[off])), word.size() - off);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({index_.find(word.substr(off, n)), idx - 1, off + n == word.size() ? -1 : idx + 1,
                   static_cast<uint32_t>(off), static_cast<uint32_t>(n)});
    off += n;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> queue;
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
    const auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, sym[left].id, sym[right].id});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    if (l.length == 0 || l.next < 0 || l.id != c.left_id) continue;  // stale
    Symbol& r = sym[l.next];
    if (r.id != c.right_id) continue;
    l.id = merges_.at(pair_key(c.left_id, c.right_id)).result;
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
      continue;
    }
    for (char ch : word.substr(sym[i].offset, sym[i].length)) {
      const int32_t bt = byte_tokens_[static_cast<uint8_t>(ch)];
      if (bt >= 0) out.push_back(bt);
    }
  }
}

void ByteLevelBpe::encode(std::string_view text, std::vector<int32_t>& out, WordCache& cache) const {
  std::vector<std::string_view> words;
  if (splitter_.empty()) words.push_back(text);
  else splitter_.split(text, words);
  for (std::string_view w : words) {
    if (w.empty()) continue;
    auto it = cache.find(w);
    if (it == cache.end()) {
      std::vector<int32_t> ids;
      encode_word(w, ids);
      if (cache.size() > 200000) cache.clear();  // bound memory on pathological inputs
      it = cache.emplace(std::string(w), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

}  // namespace quantlab::text_detail
