// Reading judges' answers: the dressed-up forms are read, anything ambiguous is not.
#include "quantlab/eval/judge_verdict.hpp"

#include <gtest/gtest.h>

namespace quantlab {
namespace {

std::string read(const std::string& s) {
  const auto v = parse_pair_verdict(s);
  return v ? verdict_name(*v) : "none";
}

TEST(PairVerdict, PlainAndDressedUpAnswers) {
  for (const char* s : {"A", "a", " A\n", "A.", "**A**", "\"A\"", "Answer: A", "answer A", "The better answer is A.",
                        "Verdict: [A]", "[[A]]", "My verdict: [[A]] because it is longer", "A. It answers the question.",
                        "A: it is correct", "Final answer: A", "The answer is \"A\"", "My final answer is A.", "I choose A", "A is better.",
                        "Answer A is better", "I compared both.\nWinner: A", "`A`", "(A)", "# A"})
    EXPECT_EQ(read(s), "A") << s;
  for (const char* s : {"B", "b!", "**Answer: B**", "[[B]]", "Better answer: B\nReason: shorter."})
    EXPECT_EQ(read(s), "B") << s;
  for (const char* s : {"Even", "even.", "EVEN", "Tie", "draw", "[[C]]", "Verdict: Even", "It is hard to say.\nEven"})
    EXPECT_EQ(read(s), "Even") << s;
}

TEST(PairVerdict, AmbiguousOrAbsentVerdictsAreUnreadable) {
  for (const char* s : {"", "   ", "A good answer explains its steps.", "Both are fine", "A or B", "A and B are both wrong",
                        "[[A]] ... on second thought [[B]]", "Answer: A\nAnswer: B", "I cannot judge this.",
                        "Answer A is more detailed than answer B.", "Apple", "Bee", "The answer is evident", "You are correct, I will provide the answer \"Even\" for the better one",
                        "The answer is A or B", "Answer A is better than answer B",
                        "A\nB"})
    EXPECT_EQ(read(s), "none") << "'" << s << "'";
}

TEST(Score, PlainAndDressedUpScores) {
  for (const char* s : {"4", " 4\n", "4.", "**4**", "[[4]]", "Score: 4", "score: 4/5", "Rating: 4", "4/5", "4 - mostly right",
                        "The answer is mostly right.\nScore: 4", "評価: 4", "評価：4", "Final score is 4", "4 points"})
    EXPECT_EQ(parse_score(s).value_or(-1), 4) << s;
  EXPECT_EQ(parse_score("1").value_or(-1), 1);
  EXPECT_EQ(parse_score("5").value_or(-1), 5);
}

TEST(Score, OutOfRangeOrConflictingScoresAreUnreadable) {
  for (const char* s : {"", "0", "6", "10", "Score: 7", "Score: 4.5", "Score: 3\nScore: 4", "[[2]] [[5]]", "four",
                        "It deserves a high score.", "-3", "45"})
    EXPECT_FALSE(parse_score(s).has_value()) << "'" << s << "'";
  EXPECT_EQ(parse_score("7", 1, 10).value_or(-1), 7);
}

}  // namespace
}  // namespace quantlab
