#pragma once
// SentencePiece BPE as llama.cpp's "llama" vocabulary runs it: start from UTF-8 characters, merge
// the adjacent pair whose concatenation is the highest-scoring vocabulary token (leftmost on ties)
// until none is left; pieces that are no token fall back to <0xXX> byte tokens.
#include "quantlab/text/vocab.hpp"
#include "src/text/token_index.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace quantlab::text_detail {

class SentencePieceBpe {
 public:
  SentencePieceBpe(const Vocab& vocab, const TokenIndex& index);
  // text is already whitespace-escaped (spaces as U+2581) and prefixed as the caller decided.
  void encode(std::string_view text, std::vector<int32_t>& out) const;

 private:
  const Vocab& vocab_;
  const TokenIndex& index_;
  std::array<int32_t, 256> byte_tokens_{};  // -1 when the vocabulary has neither <0xXX> nor the byte
};

}  // namespace quantlab::text_detail
