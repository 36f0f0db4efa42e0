#pragma once
// Splits text on the strings of special tokens before any tokenizer sees it, as llama.cpp does:
// tokens are tried longest first, each splitting every remaining text fragment at all of its
// (non-overlapping, leftmost) occurrences. User-defined tokens always split; control and unknown
// tokens only when parse_special is set. lstrip/rstrip tokens swallow ASCII whitespace beside them.
#include "quantlab/text/vocab.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace quantlab::text_detail {

struct Fragment {
  size_t offset = 0, length = 0;  // text span when token < 0
  int32_t token = -1;
};

class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocab& vocab);
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> children;  // sorted by byte
    int32_t token = -1;
  };
  uint32_t child(uint32_t node, uint8_t byte) const;  // 0 = none (the root is never a child)

  const Vocab& vocab_;
  std::vector<int32_t> order_;  // candidate tokens, longest text first
  std::vector<Node> trie_;
};

}  // namespace quantlab::text_detail
