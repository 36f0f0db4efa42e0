#pragma once
// Pre-tokenization by regexes, llama.cpp style: each regex in turn splits every current piece into
// its matches and the unmatched text between them (both kept, in order). A regex sees one piece
// at a time, so anchors and lookaheads stop at the piece's edges.
//
// PCRE2 (UTF + Unicode properties, JIT when available) runs the patterns. \s and \S are widened to
// Unicode White_Space (PCRE2 leaves out U+0085), which is what llama.cpp and Oniguruma use.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::text_detail {

class RegexSplitter {
 public:
  // source names the vocabulary in errors (a pattern that does not compile).
  RegexSplitter(const std::vector<std::string>& patterns, const std::string& source);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of text (views into it) to out. text must be valid UTF-8.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  bool empty() const { return compiled_.empty(); }

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

// The pattern with \s / \S rewritten to Unicode White_Space (exposed for tests).
std::string widen_whitespace_classes(std::string_view pattern);

}  // namespace quantlab::text_detail
