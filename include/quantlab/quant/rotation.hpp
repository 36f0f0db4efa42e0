#pragma once
// Weight-only rotation of the residual stream (QuaRot/SpinQuant's R1): with every RMSNorm weight
// that feeds linears folded into those linears, the residual stream can be multiplied by any
// orthogonal Q (RMSNorm without a weight commutes with it, rms(x·Q) = rms(x)) and the weights absorb
// it: the embedding E·Q, every linear reading the stream W·diag(g)·Q, every linear writing it Qᵀ·W,
// the output head W·diag(g)·Q. The model computes the same logits and is still a plain model of its
// architecture (norm weights become ones), which llama.cpp and transformers run unchanged; what
// changes is how the weights' outliers spread over a row, which is what quantization sees.
//
// Q is a randomized Hadamard matrix diag(s)·H/√n (random signs s from the seed) where hadamard.hpp
// has a construction of order n, else a random orthogonal matrix (QR of a seeded Gaussian). The
// same seed gives the same bits whatever the thread count (each row is transformed alone, in a fixed
// order, in double precision, and rounded to f32 once).
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/hadamard.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

class Rotation {
 public:
  // Q of order n from `seed`: randomized Hadamard where one exists, else random orthogonal.
  // `force_random` takes the random orthogonal matrix even where a Hadamard exists (tests).
  Rotation(int64_t n, uint64_t seed, bool force_random = false);
  // Q = I: the norms are folded and nothing is rotated (the baseline that tells what folding alone
  // does to quantization).
  static Rotation identity(int64_t n);

  int64_t n() const { return n_; }
  uint64_t seed() const { return seed_; }
  bool is_hadamard() const { return plan_.has_value(); }
  bool is_identity() const { return identity_; }
  // "randomized hadamard 576 = paley-II(q=17) 36 x sylvester 16" or "random orthogonal 100 (QR of a Gaussian)".
  std::string construction() const;

  // v ← v·Q for a row vector of n values.
  void apply(double* v) const;
  // Q as n x n row-major doubles (tests, small n).
  std::vector<double> dense() const;

 private:
  int64_t n_;
  uint64_t seed_;
  bool identity_ = false;
  std::optional<HadamardPlan> plan_;
  std::vector<double> signs_;     // Hadamard: s, ±1
  std::vector<int8_t> small_;     // Hadamard: the Paley factor, small_order²
  std::vector<double> q_;         // random orthogonal: Q, n x n row-major
};

// Throws Error naming the model and the reason when its residual stream cannot be rotated by
// weights alone (Gemma 3's post-attention/post-FFN norms), or naming the tensor when a weight is
// quantized (rotating rounded values and rounding them again compounds the error: rotate the
// F32/F16/BF16 original).
void check_rotatable(const Model& m);

// One rotated tensor under its GGUF name: f32 values, rows x cols row-major (ggml ne = {cols, rows}).
struct RotatedTensor {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
};

// Produces every tensor the rotation changes, one at a time (memory: one tensor), in the model's
// order: token_embd, per layer attn_norm (ones), attn_q/k/v, attn_output, ffn_norm (ones),
// ffn_gate/up/down, then output_norm (ones) and output.weight, which is written even where the
// source ties it to the embedding (the folded norm makes it differ). Biases, Q/K norms and anything
// else are unchanged and not visited. Runs check_rotatable first.
void for_each_rotated_tensor(const Model& m, const Rotation& q, ThreadPool& pool,
                             const std::function<void(RotatedTensor&&)>& visit);

// Rotates `m` in memory: its weights become owned F32 tensors and its output is untied.
void rotate_model(Model& m, const Rotation& q, ThreadPool& pool);

}  // namespace quantlab
