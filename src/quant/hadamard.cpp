// Hadamard constructions (see the header). Paley's matrices come from the quadratic character χ of
// GF(q), q prime: the Jacobsthal matrix J[i][j] = χ(j - i) is antisymmetric for q ≡ 3 mod 4 and
// symmetric for q ≡ 1 mod 4, and J·Jᵀ = q·I - 𝟙 either way, which is what both constructions use.
#include "quantlab/quant/hadamard.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab {
namespace {

bool is_prime(int64_t q) {
  if (q < 2) return false;
  for (int64_t d = 2; d * d <= q; ++d)
    if (q % d == 0) return false;
  return true;
}

// The Paley construction of order k, if k has one: {q, type}.
std::optional<std::pair<int64_t, int>> paley_of(int64_t k) {
  if (k < 4 || k % 4 != 0) return std::nullopt;
  if (is_prime(k - 1) && (k - 1) % 4 == 3) return std::make_pair(k - 1, 1);
  if (is_prime(k / 2 - 1) && (k / 2 - 1) % 4 == 1) return std::make_pair(k / 2 - 1, 2);
  return std::nullopt;
}

// χ(a) for a in [0, q): 0, 1 for a nonzero square, -1 otherwise.
std::vector<int> quadratic_character(int64_t q) {
  std::vector<int> chi(size_t(q), -1);
  chi[0] = 0;
  for (int64_t x = 1; x < q; ++x) chi[size_t(x * x % q)] = 1;
  return chi;
}

}  // namespace

std::string HadamardPlan::describe() const {
  const std::string pow2 = "sylvester " + std::to_string(int64_t(1) << log2_pow2);
  if (small_order == 1) return "hadamard " + std::to_string(n) + " = " + pow2;
  return "hadamard " + std::to_string(n) + " = paley-" + (paley_type == 1 ? "I" : "II") + "(q=" + std::to_string(paley_q) +
         ") " + std::to_string(small_order) + " x " + pow2;
}

std::optional<HadamardPlan> hadamard_plan(int64_t n) {
  if (n < 1) return std::nullopt;
  int max_pow = 0;
  while (n % (int64_t(2) << max_pow) == 0) ++max_pow;
  for (int p = max_pow; p >= 0; --p) {  // the largest power of two first = the smallest Paley factor
    const int64_t k = n >> p;
    HadamardPlan plan;
    plan.n = n;
    plan.log2_pow2 = p;
    if (k == 1) return plan;
    if (const auto pq = paley_of(k)) {
      plan.small_order = k;
      plan.paley_q = pq->first;
      plan.paley_type = pq->second;
      return plan;
    }
  }
  return std::nullopt;
}

std::vector<int8_t> paley_hadamard(const HadamardPlan& plan) {
  const int64_t k = plan.small_order;
  if (k == 1) return {1};
  const int64_t q = plan.paley_q;
  const std::vector<int> chi = quadratic_character(q);
  // The conference-style core C of order q+1: C[0][0] = 0, first row 1, first column ∓1 (type I:
  // -1, making C antisymmetric; type II: 1, symmetric), and J below.
  const int64_t m = q + 1;
  std::vector<int> c(size_t(m * m), 0);
  for (int64_t i = 1; i < m; ++i) {
    c[size_t(i)] = 1;
    c[size_t(i * m)] = plan.paley_type == 1 ? -1 : 1;
    for (int64_t j = 1; j < m; ++j) c[size_t(i * m + j)] = chi[size_t(((j - i) % q + q) % q)];
  }
  std::vector<int8_t> h(size_t(k * k));
  if (plan.paley_type == 1) {  // H = I + C (C antisymmetric, CᵀC = q·I)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) h[size_t(i * k + j)] = int8_t(c[size_t(i * m + j)] + (i == j ? 1 : 0));
    return h;
  }
  // Type II: each zero of C becomes [[1, -1], [-1, -1]], each ±1 becomes ±[[1, 1], [1, -1]].
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      const int v = c[size_t(i * m + j)];
      const int blk[2][2] = {{v == 0 ? 1 : v, v == 0 ? -1 : v}, {v == 0 ? -1 : v, v == 0 ? -1 : -v}};
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) h[size_t((2 * i + a) * k + 2 * j + b)] = int8_t(blk[a][b]);
    }
  return h;
}

std::vector<int64_t> hadamard_orders(int64_t max_order) {
  std::vector<int64_t> v;
  for (int64_t n = 1; n <= max_order; ++n)
    if (hadamard_plan(n)) v.push_back(n);
  return v;
}

}  // namespace quantlab
