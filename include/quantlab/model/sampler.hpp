#pragma once
// Choosing the next token from logits: greedy, or temperature sampling restricted by top-k,
// top-p (nucleus) and min-p, in llama.cpp's order (top-k, top-p, min-p, then temperature).
// The random stream is std::mt19937_64 (its output sequence is fixed by the C++ standard) turned
// into uniforms by hand, so a seed gives the same tokens with any standard library.
#include <cstdint>
#include <random>
#include <span>

namespace quantlab {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy (argmax)
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
};

// Index of the largest logit (the lowest index among equals).
int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t sample(std::span<const float> logits);
  const SamplingParams& params() const { return params_; }

 private:
  double uniform();  // in [0, 1) with 53 random bits
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace quantlab
