#include "quantlab/model/config.hpp"
#include "quantlab/core/error.hpp"

#include <cmath>
#include <numbers>

namespace quantlab {

void ModelConfig::validate(const std::string& source) const {
  auto need = [&](bool ok, const char* field, const std::string& what) {
    if (!ok) throw Error(source, field, what);
  };
  need(n_layer > 0 && n_layer < 100000, "n_layer", "must be positive");
  need(n_embd > 0 && n_embd < (1 << 20), "n_embd", "must be positive");
  need(n_head > 0 && n_head <= n_embd * 16, "n_head", "must be positive");
  need(n_head_kv > 0 && n_head % n_head_kv == 0, "n_head_kv", "must divide n_head (" + std::to_string(n_head) + ")");
  need(head_dim > 0 && head_dim < (1 << 16), "head_dim", "must be positive");
  need(n_ff > 0 && n_ff < (1 << 24), "n_ff", "must be positive");
  need(n_vocab > 0 && n_vocab < (1 << 26), "n_vocab", "must be positive");
  need(n_rot > 0 && n_rot <= head_dim && n_rot % 2 == 0, "n_rot", "must be even and at most head_dim");
  need(rms_eps > 0 && std::isfinite(rms_eps), "rms_eps", "must be positive");
  need(rope_freq_base > 0 && std::isfinite(rope_freq_base), "rope_freq_base", "must be positive");
  need(rope_freq_factors.empty() || int64_t(rope_freq_factors.size()) == n_rot / 2, "rope_freq_factors",
       "must have n_rot/2 entries");
  need(bos_id < n_vocab && eos_id < n_vocab, "bos/eos", "token id out of the vocabulary");
  need(embd_scale > 0 && std::isfinite(embd_scale), "embd_scale", "must be positive");
  need(attn_q_scale >= 0 && std::isfinite(attn_q_scale), "attn_q_scale", "must not be negative");
  need(n_swa >= 0, "sliding_window", "must not be negative");
  need(swa_layers.empty() || int64_t(swa_layers.size()) == n_layer, "sliding_window_pattern",
       "must have one entry per layer");
  need(rope_freq_base_swa > 0 && std::isfinite(rope_freq_base_swa), "rope.freq_base_swa", "must be positive");
  need(final_logit_softcap >= 0 && std::isfinite(final_logit_softcap), "final_logit_softcapping",
       "must not be negative");
}

RopeParams ModelConfig::rope(int64_t layer) const {
  RopeParams p;
  p.style = rope_style;
  p.n_rot = n_rot;
  if (is_swa(layer)) {
    p.freq_base = rope_freq_base_swa;
    p.freq_scale = rope_freq_scale_swa;
  } else {
    p.freq_base = rope_freq_base;
    p.freq_scale = rope_freq_scale;
    p.freq_factors = rope_freq_factors.empty() ? nullptr : rope_freq_factors.data();
  }
  return p;
}

std::vector<uint8_t> swa_pattern(int64_t n_layer, int64_t period) {
  std::vector<uint8_t> out(static_cast<size_t>(n_layer));
  for (int64_t l = 0; l < n_layer; ++l) out[size_t(l)] = period == 0 || l % period < period - 1;
  return out;
}

std::vector<float> llama3_rope_freq_factors(int64_t n_rot, float freq_base, float factor, float low_freq_factor,
                                            float high_freq_factor, int64_t original_ctx) {
  std::vector<float> out(size_t(n_rot / 2));
  const double low_wavelen = double(original_ctx) / low_freq_factor;
  const double high_wavelen = double(original_ctx) / high_freq_factor;
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double inv_freq = 1.0 / std::pow(double(freq_base), double(2 * i) / double(n_rot));
    const double wavelen = 2.0 * std::numbers::pi / inv_freq;
    double ff;
    if (wavelen < high_wavelen) ff = 1.0;
    else if (wavelen > low_wavelen) ff = factor;
    else {
      const double smooth = (double(original_ctx) / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      ff = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out[size_t(i)] = float(ff);
  }
  return out;
}

int64_t hf_row_of_gguf_row(int64_t r, int64_t head_dim) {
  const int64_t head = r / head_dim, within = r % head_dim;
  return head * head_dim + (within % 2) * (head_dim / 2) + within / 2;
}

}  // namespace quantlab
