#pragma once
// McNemar's exact test for two classifiers on the same items (two quantized models answering the
// same multiple-choice questions): only the discordant items count, b = right in A and wrong in B,
// c = wrong in A and right in B. Under "A and B are equally accurate" each discordant item is a
// fair coin, so min(b, c) is Binomial(b + c, 1/2) and the two-sided p-value is
//   p = min(1, 2 * sum_{k=0}^{min(b,c)} C(b+c, k) / 2^(b+c))
// (the exact form; the chi-square approximation is poor at the few dozen discordant answers a sweep
// of 50-500 questions gives). Paired, so it sees a difference that two accuracies' own standard
// errors (each +-7 points at 50 questions) hide.
#include <cstdint>
#include <vector>

namespace quantlab {

struct McNemarResult {
  int64_t n = 0;              // items both answered
  int64_t only_a = 0;         // b: right in A, wrong in B
  int64_t only_b = 0;         // c: wrong in A, right in B
  double p_value = 1;         // two-sided, exact
};

// Exact two-sided p-value for `only_a` and `only_b` discordant items.
double mcnemar_exact_p(int64_t only_a, int64_t only_b);

// Per-item correctness of A and B (same length, same items). Throws Error when the lengths differ.
McNemarResult mcnemar(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct);

}  // namespace quantlab
