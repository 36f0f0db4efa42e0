#include "quantlab/eval/mcnemar.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace quantlab {

double mcnemar_exact_p(int64_t only_a, int64_t only_b) {
  const int64_t n = only_a + only_b;
  if (n == 0) return 1.0;
  const int64_t k_max = std::min(only_a, only_b);
  double tail = 0;
  if (n <= 1000) {
    // C(n, k) / 2^n by the recurrence from 2^-n (a normal double up to n = 1022): exact while the
    // binomial coefficients fit in 53 bits, so small counts give the textbook fractions exactly.
    double term = std::ldexp(1.0, -int(n));
    for (int64_t k = 0; k <= k_max; ++k) {
      tail += term;
      term = term * double(n - k) / double(k + 1);
    }
  } else {
    // Beyond that 2^-n underflows: the terms in log space.
    for (int64_t k = 0; k <= k_max; ++k)
      tail += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1) -
                       double(n) * std::log(2.0));
  }
  return std::min(1.0, 2.0 * tail);
}

McNemarResult mcnemar(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct) {
  if (a_correct.size() != b_correct.size())
    throw Error("mcnemar", "items", "paired answers of different lengths (" + std::to_string(a_correct.size()) + " and " +
                                        std::to_string(b_correct.size()) + ")");
  McNemarResult r;
  r.n = int64_t(a_correct.size());
  for (size_t i = 0; i < a_correct.size(); ++i) {
    r.only_a += a_correct[i] && !b_correct[i];
    r.only_b += !a_correct[i] && b_correct[i];
  }
  r.p_value = mcnemar_exact_p(r.only_a, r.only_b);
  return r;
}

}  // namespace quantlab
