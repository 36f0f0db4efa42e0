#pragma once
// WordPiece (BERT) as llama.cpp's "bert" vocabulary runs it: BERT's basic tokenization (drop
// controls, split on white space, punctuation, ASCII symbols and CJK ideographs; lowercase and strip
// accents for uncased vocabularies), then per word the greedy longest match of "▁word" against the
// vocabulary; a word that cannot be covered becomes a single [UNK].
#include "quantlab/text/vocab.hpp"
#include "src/text/token_index.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::text_detail {

class WordPiece {
 public:
  WordPiece(const Vocab& vocab, const TokenIndex& index);
  void encode(std::string_view text, std::vector<int32_t>& out) const;
  // The basic-tokenizer words of text (exposed for tests).
  std::vector<std::string> words(std::string_view text) const;

 private:
  const Vocab& vocab_;
  const TokenIndex& index_;
  size_t max_token_len_ = 0;
};

}  // namespace quantlab::text_detail
