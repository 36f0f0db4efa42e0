#pragma once
// Reading a judge's answer. Judges are told to answer with one word ("A", "B", "Even") or one score
// (1-5), but models dress answers up ("**A**", "Answer: B.", "[[A]]", "Score: 4/5", a verdict
// followed by an explanation). The readers accept those forms and nothing they cannot be sure of:
// an answer that names both sides, none, or a score outside 1-5 is unreadable (nullopt), which the
// judge commands count and store as a per-item error rather than guess.
#include <optional>
#include <string>

namespace quantlab {

enum class PairVerdict { A, B, Even };

const char* verdict_name(PairVerdict v);  // "A", "B", "Even"

// Accepted, case-insensitively, after markdown emphasis, quotes and brackets are stripped: the whole
// answer being A / B / Even (or Tie, Draw, "Answer A"); MT-bench's [[A]] / [[B]] / [[C]] (C: tie);
// a first or last line that is one of those, or "Answer: X", "Verdict: X", "Better answer: X",
// "Winner: X" (X followed by nothing or punctuation); else the same "Verdict: X" forms anywhere
// when every one of them names the same X.
std::optional<PairVerdict> parse_pair_verdict(const std::string& answer);

// A score from `lo` to `hi` (1 to 5 for the rubric): the whole answer being the number; [[n]];
// "Score: n", "Rating: n", "Grade: n", "評価: n" (anywhere, all naming the same n); a first or last
// line that starts with n ("4", "4/5", "4 - mostly right"). Other numbers, or two different
// scores, are unreadable.
std::optional<int> parse_score(const std::string& answer, int lo = 1, int hi = 5);

}  // namespace quantlab
