#include "quantlab/pipeline/memory_plan.hpp"
#include "quantlab/backend/backend.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/pipeline/quantize_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace quantlab::pipeline {
namespace {

// The shapes one decoder layer's quantization works with.
struct LayerShape {
  double linear_values = 0;     // all seven linears
  double other_values = 0;      // norms and biases
  double largest_linear = 0;    // rows x cols of the largest linear
  int64_t inputs[4] = {};       // columns of QKV, attention output, gate/up, down
  int consumers[4] = {3, 1, 2, 1};
  int64_t q_dim = 0, kv_dim = 0, ff = 0;
};

LayerShape shape_of(const LayerWeights& L) {
  LayerShape s;
  for (const WeightMatrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down}) {
    const double n = double(w->rows) * double(w->cols);
    s.linear_values += n;
    s.largest_linear = std::max(s.largest_linear, n);
  }
  for (const auto* v : {&L.attn_norm, &L.ffn_norm, &L.q_bias, &L.k_bias, &L.v_bias, &L.q_norm, &L.k_norm,
                        &L.attn_post_norm, &L.ffn_post_norm})
    s.other_values += double(v->size());
  s.inputs[0] = L.wq.cols;
  s.inputs[1] = L.wo.cols;
  s.inputs[2] = L.ffn_gate.cols;
  s.inputs[3] = L.ffn_down.cols;
  s.q_dim = L.wq.rows;
  s.kv_dim = L.wk.rows;
  s.ff = L.ffn_gate.rows;
  return s;
}

// Tokens of the largest micro-batch (whole samples, so at least the longest sample).
int64_t micro_batch_tokens(const QuantizeOptions& o, const CalibrationShape& c) {
  if (o.micro_batch_tokens <= 0) return c.tokens;
  return std::min(c.tokens, std::max(o.micro_batch_tokens, c.longest_sample));
}

// One micro-batch's f32 activations through a layer (DecoderBlock's scratch and the runner's copy of
// the hidden states): x, xn, q, k, v, the attention's output, gate and up, per token.
double activations_per_token(const LayerShape& s, int64_t n_embd) {
  return 4.0 * double(2 * n_embd + 2 * s.q_dim + 2 * s.kv_dim + 2 * s.ff);
}

// The GPU's Gram accumulation's scratch (gram.cu), with the workspace's 1.25x growth: the double
// copy of a micro-batch (at most ~256 MiB of doubles per DSYRK call), or with TF32 the f32 product
// of one block of columns (n x block, ~256 MiB).
double gram_scratch(int64_t tokens, int64_t n, bool tf32) {
  if (tf32) return 1.25 * 4.0 * double(n) * double(gpu_gram_tf32_block(n));
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(tokens, (int64_t(256) << 20) / (n * 8)));
  return 1.25 * 8.0 * double(chunk) * double(n);
}

struct Planner {
  const Model& model;
  const QuantizeOptions& o;
  CalibrationShape c;

  MemoryPlan plan() const {
    MemoryPlan p;
    const bool calibrated = method_needs_calibration(o.method);
    const bool on_gpu = calibrated && !o.device.is_cpu();  // calibration-free methods run no layer
    const int64_t E = model.config.n_embd;
    const int64_t m = calibrated ? micro_batch_tokens(o, c) : 0;

    // The largest of each quantity over the layers (the layers of a model may differ: Gemma's
    // per-layer FFN widths, sliding-window layers).
    LayerShape big;
    int64_t big_layer = 0;
    double layer_bytes = 0, activations = 0, hessian = 0, gram = 0, moments = 0, kept = 0, awq_sums = 0, widest_sq = 0;
    std::set<int64_t> pooled_hessians;  // GPU: freed sums under 64 MiB stay in the buffer pool
    double large_hessian = 0;
    int64_t widest_input = 0;
    for (size_t l = 0; l < model.layers.size(); ++l) {
      const LayerShape s = shape_of(model.layers[l]);
      const double bytes = 4.0 * (s.linear_values + s.other_values);
      if (bytes > layer_bytes) layer_bytes = bytes, big_layer = int64_t(l), big = s;
      activations = std::max(activations, double(m) * activations_per_token(s, E));
      double awq = 0, largest_in = 0;
      for (int k = 0; k < 4; ++k) {
        const double n2 = double(s.inputs[k]) * double(s.inputs[k]);
        // GPTQ: a stage's sums and the factor made from them (GptqHessian; the stage's linears share it).
        hessian = std::max(hessian, 8.0 * n2 * 2);
        awq += 8.0 * n2;  // AWQ keeps every input's second moments for the whole layer
        largest_in = std::max(largest_in, n2);
        widest_input = std::max(widest_input, s.inputs[k]);
        const double device_sum = 8.0 * n2;
        if (device_sum < double(int64_t(64) << 20)) pooled_hessians.insert(s.inputs[k]);
        else large_hessian = std::max(large_hessian, device_sum);
        gram = std::max(gram, gram_scratch(m, s.inputs[k], o.tf32_calibration));
      }
      moments = std::max(moments, awq + 4.0 * largest_in);
      awq_sums = std::max(awq_sums, awq);
      widest_sq = std::max(widest_sq, largest_in);
      kept += 4.0 * s.linear_values + 1.0 * s.linear_values;  // dequantized f32 + codes
    }
    const std::string layer_name = "blk." + std::to_string(big_layer);

    if (o.host_resident_bytes > 0) p.host.push_back({"resident before the run", o.host_resident_bytes});
    if (calibrated) p.host.push_back({"calibration hidden states (f32)", 4.0 * double(c.tokens) * double(E)});
    const size_t layer_parts = p.host.size();  // the parts from here on exist only while layers run
    p.host.push_back({"layer " + layer_name + " (f32 working copy)", layer_bytes});
    // GPTQ transposes the matrix and returns codes and dequantized values; the others return codes
    // and dequantized values.
    const double per_weight = o.method == Method::Gptq ? 9.0 : 5.0;
    p.host.push_back({"quantizer's working set (largest linear)", per_weight * big.largest_linear});
    // On a GPU the Hessian and its factor stay there (GptqHessian).
    if (o.method == Method::Gptq && !on_gpu) p.host.push_back({"GPTQ Hessian and its factor (f64)", hessian});
    if (o.method == Method::Awq) p.host.push_back({"AWQ input moments (f64)", moments});
    if (calibrated && !on_gpu) {
      p.host.push_back({"micro-batch activations (f32, " + std::to_string(m) + " tokens)", activations});
      p.host.push_back({"KV cache (one sample, f32)", 8.0 * double(c.longest_sample) * double(big.kv_dim)});
    }
    // The layer's codes (at most a byte a weight) live until the sink has written the layer.
    p.host.push_back({"quantized layer's codes until written", big.linear_values});
    if (o.keep_model && model.layers.size() > 1)
      p.host.push_back({"quantized layers kept in memory", kept * double(model.layers.size() - 1) / double(model.layers.size())});

    if (on_gpu) {
      if (o.hidden_on_device)
        p.device.push_back({"calibration hidden states (f32, kept on the GPU)", 4.0 * double(c.tokens) * double(E)});
      if (o.hidden_on_device && o.attention_on_device && o.method == Method::Gptq)
        p.device.push_back({"attention results of every token (f32, kept on the GPU)",
                            4.0 * double(c.tokens) * double(big.q_dim)});
      p.device.push_back({"layer " + layer_name + " (f32)", layer_bytes});
      p.device.push_back({"micro-batch activations (f32, " + std::to_string(m) + " tokens)", activations});
      p.device.push_back({"KV cache (one sample, f32)", 8.0 * double(c.longest_sample) * double(big.kv_dim)});
      if (o.method == Method::Gptq) {
        double sums = large_hessian;
        for (int64_t n : pooled_hessians) sums += 8.0 * double(n) * double(n);
        p.device.push_back({"Hessian sums (f64)", sums});
        p.device.push_back({o.tf32_calibration ? "Gram product (f32, TF32)" : "Gram widening (f64)", gram});
        // The factor made from the sums, of the same size (both live while the stage's linears are
        // swept; small ones stay pooled alike), and the sweep of one linear: its weights (f32),
        // codes (a byte each) and the error of one lazy block (f32, 128 columns), or on the host
        // sweep's path the lazy update's f32 copy of 128 rows of the factor.
        p.device.push_back({"GPTQ factor (f64)", sums});
        p.device.push_back({"GPTQ sweep: a linear's weights, codes and update scratch",
                            5.0 * big.largest_linear + 4.0 * 128 * double(std::max({widest_input, big.ff, E}))});
      }
      if (o.method == Method::Awq) {
        // Every input's Gram sums for the whole layer (the search starts after the float pass),
        // then the search: G in f32, the group's weights (at most the two largest linears) and two
        // blocks of candidates of at most 64 MiB each (quant/awq.cpp).
        p.device.push_back({"AWQ input sums (f64)", awq_sums});
        p.device.push_back({o.tf32_calibration ? "Gram product (f32, TF32)" : "Gram widening (f64)", gram});
        p.device.push_back({"AWQ search: moments (f32), a group's weights, candidate blocks",
                            4.0 * widest_sq + 8.0 * big.largest_linear +
                                2.0 * std::max(double(int64_t(64) << 20), 4.0 * 256 * double(widest_input))});
      }
    }
    // Embedding the calibration tokens reads rows of the mapped token embedding before the first
    // layer runs; where the page cache holds the file in large folios, a few rows make megabytes
    // resident, up to the whole table, until they are released. That phase needs the table beside
    // the hidden states; the layers' phase needs the parts after them: the plan takes the larger.
    if (calibrated && !model.token_embd.empty()) {
      const double table = double(model.token_embd.rows) * double(model.token_embd.row_stride);
      double layer_phase = 0;
      for (size_t i = layer_parts; i < p.host.size(); ++i) layer_phase += p.host[i].bytes;
      if (table > layer_phase)
        p.host.push_back({"token embedding pages read while embedding, beyond the layers' parts", table - layer_phase});
    }
    // What the parts do not name (allocator rounding and fragmentation, page granularity, the
    // exporter's per-tensor packing, small vectors): 10 % on top, so that the plan bounds the peak
    // (QuantizeMemorySlow measures it).
    for (auto* side : {&p.host, &p.device}) {
      if (side->empty()) continue;
      double sum = 0;
      for (const MemoryPart& part : *side) sum += part.bytes;
      side->push_back({"allocation slack (10 %)", 0.1 * sum});
    }
    return p;
  }
};

double total(const std::vector<MemoryPart>& parts) {
  double t = 0;
  for (const MemoryPart& p : parts) t += p.bytes;
  return t;
}

std::string parts_text(const std::vector<MemoryPart>& parts) {
  std::string s;
  for (const MemoryPart& p : parts) {
    if (p.bytes <= 0) continue;
    if (!s.empty()) s += ", ";
    s += p.name + " " + format_bytes(p.bytes);
  }
  return s;
}

}  // namespace

double MemoryPlan::host_bytes() const { return total(host); }
double MemoryPlan::device_bytes() const { return total(device); }

MemoryPlan plan_memory(const Model& model, const QuantizeOptions& options, const CalibrationShape& calibration) {
  return Planner{model, options, calibration}.plan();
}

std::string format_bytes(double bytes) {
  char buf[32];
  if (bytes >= double(int64_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(int64_t(1) << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(int64_t(1) << 20));
  return buf;
}

void check_memory_budget(const Model& model, const QuantizeOptions& options, const CalibrationShape& calibration,
                         bool device, double budget, const std::string& flag, const std::string& what) {
  if (!(budget > 0)) return;
  const auto need_of = [&](const CalibrationShape& c, int64_t micro_batch) {
    QuantizeOptions o = options;
    o.micro_batch_tokens = micro_batch;
    const MemoryPlan p = plan_memory(model, o, c);
    return device ? p.device_bytes() : p.host_bytes();
  };
  const MemoryPlan plan = plan_memory(model, options, calibration);
  const double need = device ? plan.device_bytes() : plan.host_bytes();
  if (need <= budget) return;
  std::string msg = "the plan needs " + format_bytes(need) + " " + (device ? "on the GPU" : "of host memory") + " (" +
                    parts_text(device ? plan.device : plan.host) + "), over " + what;
  // What would fit: the largest micro-batch (GPU: the activations that move with it), else the
  // most calibration tokens at the current samples' length.
  const bool calibrated = method_needs_calibration(options.method);
  if (calibrated && calibration.tokens > 0) {
    const int64_t current = options.micro_batch_tokens <= 0 ? calibration.tokens : options.micro_batch_tokens;
    int64_t lo = 0, hi = current;  // largest micro-batch that fits: lo (0 = none)
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (need_of(calibration, mid) <= budget) lo = mid;
      else hi = mid - 1;
    }
    const bool micro_fits = lo >= calibration.longest_sample && lo > 0;
    if (micro_fits && lo < current) {
      msg += "; --micro-batch " + std::to_string(lo) + " fits";
    } else {
      // Fewer samples of the same length: the hidden states (host) and nothing else shrink.
      const double per_sample = double(calibration.tokens) / double(std::max<int64_t>(1, calibration.samples));
      int64_t fit = 0;
      for (int64_t lo_s = 0, hi_s = calibration.samples; lo_s <= hi_s;) {
        const int64_t mid = (lo_s + hi_s) / 2;
        CalibrationShape c = calibration;
        c.samples = mid;
        c.tokens = int64_t(std::ceil(per_sample * double(mid)));
        if (mid > 0 && need_of(c, options.micro_batch_tokens) <= budget) fit = mid, lo_s = mid + 1;
        else if (mid == 0) lo_s = 1;
        else hi_s = mid - 1;
      }
      if (fit > 0) {
        msg += "; at most " + std::to_string(fit) + " samples of this length fit (--samples)";
      } else {
        const double bare = need_of(CalibrationShape{}, options.micro_batch_tokens);
        if (bare > budget)
          msg += "; even with no calibration tokens the run needs " + format_bytes(bare) + ": a smaller budget cannot be met";
        else
          msg += "; no calibration set fits: even one sample needs more (shorter --seq-len, or a larger budget)";
      }
    }
  } else {
    msg += "; a smaller budget cannot be met for this model";
  }
  throw Error(flag, "", msg);
}

}  // namespace quantlab::pipeline
