#include "src/text/sentencepiece_bpe.hpp"

#include <cstdio>
#include <queue>

namespace quantlab::text_detail {

SentencePieceBpe::SentencePieceBpe(const Vocab& vocab, const TokenIndex& index) : vocab_(vocab), index_(index) {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = index.find(hex);
    if (id < 0) id = index.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    byte_tokens_[b] = id;
  }
}

namespace {

struct Symbol {
  int32_t prev, next;
  uint32_t offset, length;
};

struct Bigram {
  int32_t left, right;
  float score;
  uint32_t size;
};

// Highest score first; on equal scores the leftmost pair (as SentencePiece and llama.cpp do).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
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

void SentencePieceBpe::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_lead_length(static_cast<unsigned char>(text[off])), text.size() - off);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, static_cast<uint32_t>(off), static_cast<uint32_t>(n)});
    off += n;
  }

  std::vector<Bigram> storage;
  storage.reserve(sym.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder{}, std::move(storage));
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t size = sym[left].length + sym[right].length;
    const int32_t id = index_.find(text.substr(sym[left].offset, size));
    if (id < 0) return;
    const float score = vocab_.scores.empty() ? 0.0f : vocab_.scores[id];
    queue.push({left, right, score, size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.length == 0 || r.length == 0 || l.length + r.length != b.size) continue;  // stale
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].offset, sym[i].length);
    const int32_t id = index_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t bt = byte_tokens_[static_cast<uint8_t>(c)];
      if (bt >= 0) out.push_back(bt);
      else if (vocab_.unk_id >= 0) out.push_back(vocab_.unk_id);
    }
  }
}

}  // namespace quantlab::text_detail
