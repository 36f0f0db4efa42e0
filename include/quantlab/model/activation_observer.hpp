#pragma once
// Hook to see the input activations of every linear layer during a forward pass; calibration
// (importance matrices, GPTQ Hessians, AWQ scales) is built on it. Linears that share an input
// (Q/K/V, gate/up) are reported once.
#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

class Backend;
struct Tensor;

enum class LinearInput {
  AttnQKV,     // input of blk.N.attn_q/k/v.weight (normed hidden state)
  AttnOutput,  // input of blk.N.attn_output.weight (attention result)
  FfnGateUp,   // input of blk.N.ffn_gate/ffn_up.weight (normed hidden state)
  FfnDown,     // input of blk.N.ffn_down.weight (silu(gate) * up)
  Output,      // input of output.weight (final normed hidden state); layer = -1
};

// Canonical GGUF names of the weights that consume this input.
std::vector<std::string> linear_input_tensors(int layer, LinearInput which);

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // x is [n_tokens][n_features], valid only during the call.
  virtual void on_linear_input(int layer, LinearInput which, const float* x, int64_t n_tokens, int64_t n_features) = 0;
  // The same input where it was computed, on a GPU backend's device: an observer that uses it there
  // returns true and on_linear_input is not called (the activations are not copied to the host).
  // The default declines.
  virtual bool on_linear_input_on(Backend& /*backend*/, int /*layer*/, LinearInput /*which*/, const Tensor& /*x*/) {
    return false;
  }
};

}  // namespace quantlab
