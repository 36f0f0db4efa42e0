#pragma once
// The element-wise and attention operations of a Llama-family forward pass, in f32 on the CPU.
// Each output element is computed by one thread in a fixed order, so results do not depend on
// the thread count. Where llama.cpp fixes a rounding order that matters (double sums in RMSNorm
// and softmax, RoPE angles built by repeated multiplication), these follow it.
#include "quantlab/backend/thread_pool.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

// y = (x / rms(x)) * weight over n values; weight may be null (no scale). x and y may alias.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

// Rotary position embedding. Normal style rotates adjacent pairs (x[2i], x[2i+1]) (llama.cpp's
// LLAMA_ROPE_TYPE_NORM, the layout of GGUF llama-arch Q/K after the converter's permutation);
// NeoX style rotates (x[i], x[i + n_rot/2]) (Hugging Face's rotate_half; Qwen2/3 in GGUF).
enum class RopeStyle { Normal, NeoX };

struct RopeParams {
  RopeStyle style = RopeStyle::Normal;
  int64_t n_rot = 0;                      // rotated dimensions per head (<= head_dim, even)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;                // linear position scaling (1 / factor)
  const float* freq_factors = nullptr;    // n_rot/2 divisors of the frequencies (Llama 3), or null
};

// cos/sin of each of the n_rot/2 angles at `pos` (same formula as ggml's rope cache).
void rope_angles(const RopeParams& p, int64_t pos, float* cos_out, float* sin_out);
// Rotates `n_heads` consecutive heads of `head_dim` values in place using angles from rope_angles.
void rope_apply(const RopeParams& p, const float* cos_v, const float* sin_v, float* x, int64_t n_heads, int64_t head_dim);

// In-place softmax over n values (max subtracted, sum in double).
void softmax(float* x, int64_t n);

// The gated FFN's activation: silu(gate) * up (Llama, Qwen) or gelu_tanh(gate) * up (Gemma).
enum class FfnActivation { SiLU, GeluTanh };

// out[i] = silu(gate[i]) * up[i]; out may alias gate or up.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu(gate[i]) * up[i], GELU in its tanh approximation evaluated as ggml's CPU backend
// does (GGML_GELU_FP16): gate rounded to f16 and its GELU read from a table of f16-rounded values;
// gate <= -10 gives 0, gate >= 10 gives gate itself. llama.cpp's Gemma figures carry this rounding
// (up to 2^-11 relative), so it is reproduced rather than computed exactly. out may alias gate or up.
void geglu(const float* gate, const float* up, float* out, int64_t n);

// x[i] = cap * tanh(x[i] / cap) (Gemma 2's final logit soft-capping), in ggml's order: scale, tanh, scale.
void softcap(float* x, int64_t n, float cap);

// Causal grouped-query attention of `n_tokens` new queries against a KV cache.
struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;      // usually 1/sqrt(head_dim)
  int64_t window = 0;      // >0: sliding window, a query at position p sees keys p-window+1..p
                           // (llama.cpp's LLAMA_SWA_TYPE_STANDARD: masked when p - key >= window)
};
// q: [n_tokens][n_head*head_dim]. keys_t: the key cache transposed per head,
// [n_head_kv][head_dim][ctx_stride] (so the scores of 16 positions are one vector of FMAs, each
// score summed over head_dim in order); values: [positions][n_head_kv*head_dim]. Positions
// 0..first_pos+n_tokens-1 are filled; token t (at position first_pos+t) attends to positions
// 0..first_pos+t (the last `window` of them with a window). out: [n_tokens][n_head*head_dim].
void attention(ThreadPool& pool, const AttentionShape& s, const float* q, const float* keys_t, int64_t ctx_stride,
               const float* values, int64_t first_pos, int64_t n_tokens, float* out);

}  // namespace quantlab
