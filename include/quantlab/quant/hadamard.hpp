#pragma once
// Hadamard matrices (entries ±1, H·Hᵀ = k·I) of the orders a residual-stream rotation needs:
// Sylvester's powers of two, and Paley's constructions from a prime q (type I: order q+1 for
// q ≡ 3 mod 4; type II: order 2(q+1) for q ≡ 1 mod 4), combined with a power of two by a Kronecker
// product. Model widths are a power of two times a small factor (576 = 36·16, 640 = 20·32,
// 896 = 28·32), which these cover; an order none of them reaches (92, 100, ...) has no entry here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

// n = small_order · 2^log2_pow2, the Hadamard matrix of order n being H_small ⊗ Sylvester(2^log2_pow2).
struct HadamardPlan {
  int64_t n = 0;
  int64_t small_order = 1;  // 1 (pure Sylvester) or a Paley order (a multiple of 4)
  int64_t paley_q = 0;      // the prime of the Paley construction, 0 when small_order is 1
  int paley_type = 0;       // 1 or 2, 0 when small_order is 1
  int log2_pow2 = 0;
  std::string describe() const;  // "hadamard 576 = paley-II(q=17) 36 x sylvester 16"
};

// The plan with the smallest Paley factor for order n, or nullopt when none of the constructions
// above reaches n.
std::optional<HadamardPlan> hadamard_plan(int64_t n);

// The small factor's matrix, k x k row-major ±1 (k = plan.small_order).
std::vector<int8_t> paley_hadamard(const HadamardPlan& plan);

// Every order up to `max_order` that hadamard_plan reaches (for help texts and tests).
std::vector<int64_t> hadamard_orders(int64_t max_order);

}  // namespace quantlab
