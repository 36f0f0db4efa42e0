#pragma once
// Byte-level BPE (GPT-2 and its descendants): the regex pre-tokenizer cuts text into words, each
// word's bytes go through the GPT-2 byte map, and ranked merges are applied lowest rank first
// (leftmost on ties) with a priority queue. Words repeat a lot in real text, so one encode call
// caches the ids of every word it has seen.
#include "quantlab/text/vocab.hpp"
#include "src/text/regex_splitter.hpp"
#include "src/text/token_index.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace quantlab::text_detail {

class ByteLevelBpe {
 public:
  // regexes: the pre-tokenizer (empty: the whole text is one word).
  ByteLevelBpe(const Vocab& vocab, const TokenIndex& index, const std::vector<std::string>& regexes);

  using WordCache = std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;
  // text must be valid UTF-8 (the caller sanitizes).
  void encode(std::string_view text, std::vector<int32_t>& out, WordCache& cache) const;

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  const Vocab& vocab_;
  const TokenIndex& index_;
  RegexSplitter splitter_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_tokens_{};  // fallback id of each raw byte, -1 when none
};

}  // namespace quantlab::text_detail
