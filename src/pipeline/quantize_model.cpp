#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/quant/hessian.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

namespace quantlab::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

struct LinearSlot {
  WeightMatrix LayerWeights::*member;
  const char* name;
};
constexpr LinearSlot kSlots[] = {
    {&LayerWeights::wq, "attn_q"},       {&LayerWeights::wk, "attn_k"},     {&LayerWeights::wv, "attn_v"},
    {&LayerWeights::wo, "attn_output"},  {&LayerWeights::ffn_gate, "ffn_gate"}, {&LayerWeights::ffn_up, "ffn_up"},
    {&LayerWeights::ffn_down, "ffn_down"},
};

std::vector<LinearSlot> consumers(LinearInput which) {
  switch (which) {
    case LinearInput::AttnQKV: return {kSlots[0], kSlots[1], kSlots[2]};
    case LinearInput::AttnOutput: return {kSlots[3]};
    case LinearInput::FfnGateUp: return {kSlots[4], kSlots[5]};
    case LinearInput::FfnDown: return {kSlots[6]};
    case LinearInput::Output: break;
  }
  return {};
}

std::string tensor_name(int layer, const LinearSlot& s) {
  return "blk." + std::to_string(layer) + "." + s.name + ".weight";
}

float* f32_data(const WeightMatrix& m) { return const_cast<float*>(static_cast<const float*>(m.data)); }

// Quantizes one f32 matrix by a calibration-free method; returns its dequantized values.
std::vector<float> quantize_plain(const float* w, int64_t rows, int64_t cols, const QuantizeOptions& o,
                                  QuantizedTensor& out) {
  switch (o.method) {
    case Method::Rtn:
    case Method::Gptq:
    case Method::Awq: {
      out.int_grid = quantize_rtn(w, rows, cols, o.grid);
      return out.int_grid->dequantize();
    }
    case Method::Nf4:
    case Method::Fp4: {
      out.bnb4 = bnb::quantize_4bit(w, {rows, cols}, o.bnb4, bnb::SourceDtype::F32, out.name);
      return bnb::dequantize_4bit(*out.bnb4);
    }
    case Method::Int8: {
      out.int8 = bnb::quantize_int8_rows(w, rows, cols, out.name);
      return bnb::dequantize_int8_rows(*out.int8);
    }
  }
  return {};
}

// GPTQ as a layer hook: each group's Hessian from the batch's inputs at that point, the group's
// linears quantized and swapped in before they run (true-sequential).
class GptqHook : public LayerHook {
 public:
  GptqHook(const QuantizeOptions& o, WeightStore& store, QuantizeResult& result, LayerStats& stats)
      : o_(o), store_(store), result_(result), stats_(stats) {}

  void before_linears(int layer, LinearInput which, float* x, int64_t n_tokens, int64_t n_features,
                      LayerWeights& weights) override {
    HessianAccumulator acc(n_features);
    acc.add(x, n_tokens);
    const std::vector<double> h = acc.hessian();
    for (const LinearSlot& slot : consumers(which)) {
      WeightMatrix& m = weights.*slot.member;
      QuantizedTensor t;
      t.name = tensor_name(layer, slot);
      t.rows = m.rows, t.cols = m.cols;
      GptqReport rep;
      if (o_.gguf_types.empty()) {
        t.int_grid = gptq_quantize(f32_data(m), m.rows, m.cols, h, o_.grid, o_.gptq, &rep);
        m = store_.adopt(t.int_grid->dequantize(), t.rows, t.cols);
      } else {
        const auto type = o_.gguf_types.find(t.name);
        if (type == o_.gguf_types.end()) throw Error(t.name, "type", "no GGUF type was planned for this tensor");
        t.gguf_gptq = gptq_gguf_supports(type->second);
        if (t.gguf_gptq) {
          t.gguf = gptq_quantize_gguf(f32_data(m), m.rows, m.cols, h, type->second, o_.gptq, &rep);
        } else {
          std::vector<float> diag(size_t(m.cols));
          for (int64_t c = 0; c < m.cols; ++c) diag[size_t(c)] = float(h[size_t(c * m.cols + c)]);
          t.gguf = encode_gguf_matrix(f32_data(m), m.rows, m.cols, type->second, diag.data());
        }
        m = store_.adopt(std::move(t.gguf->dequantized), t.rows, t.cols);
        t.gguf->dequantized = {};  // the model holds them now
      }
      stats_.gptq_loss += rep.loss;
      stats_.dead_columns += rep.dead_columns;
      result_.tensors.push_back(std::move(t));
    }
  }

 private:
  const QuantizeOptions& o_;
  WeightStore& store_;
  QuantizeResult& result_;
  LayerStats& stats_;
};

// AWQ's statistics of one input group: mean |x| over every token, and a strided sample of rows.
struct CapturedInput {
  std::vector<float> abs_mean;
  std::vector<float> rows;  // [n_rows][features]
  int64_t n_rows = 0, features = 0;
};

class CaptureHook : public LayerHook {
 public:
  explicit CaptureHook(int64_t max_tokens) : max_tokens_(max_tokens) {}
  CapturedInput captured[4];

  void before_linears(int, LinearInput which, float* x, int64_t n_tokens, int64_t n_features, LayerWeights&) override {
    CapturedInput& c = captured[int(which)];
    std::vector<double> sum(size_t(n_features), 0.0);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t f = 0; f < n_features; ++f) sum[size_t(f)] += std::fabs(x[t * n_features + f]);
    c.abs_mean.resize(size_t(n_features));
    for (int64_t f = 0; f < n_features; ++f) c.abs_mean[size_t(f)] = float(sum[size_t(f)] / double(n_tokens));
    const std::vector<int64_t> idx = strided_tokens(n_tokens, max_tokens_);
    c.n_rows = int64_t(idx.size());
    c.features = n_features;
    c.rows.resize(size_t(c.n_rows * n_features));
    for (size_t i = 0; i < idx.size(); ++i)
      std::copy(x + idx[i] * n_features, x + (idx[i] + 1) * n_features, c.rows.begin() + int64_t(i) * n_features);
  }

 private:
  int64_t max_tokens_;
};

void scale_columns(WeightMatrix& m, const std::vector<float>& s) {
  float* w = f32_data(m);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] *= s[size_t(c)];
}

void divide_rows(WeightMatrix& m, std::vector<float>& bias, const std::vector<float>& s) {
  float* w = f32_data(m);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] /= s[size_t(r)];
  for (size_t r = 0; r < bias.size(); ++r) bias[r] /= s[r];
}

void divide_inputs(CapturedInput& c, const std::vector<float>& s) {
  for (int64_t t = 0; t < c.n_rows; ++t)
    for (int64_t f = 0; f < c.features; ++f) c.rows[size_t(t * c.features + f)] /= s[size_t(f)];
}

// AWQ on one layer whose linears are f32 in `work`: search all scales on the float layer's inputs
// (as AutoAWQ does), fold them in, clip, quantize.
void awq_layer(ThreadPool& pool, int layer, LayerWeights& work, CaptureHook& cap, const QuantizeOptions& o,
               WeightStore& store, QuantizeResult& result, LayerStats& stats) {
  auto lin = [](WeightMatrix& m) { return AwqLinear{f32_data(m), m.rows}; };
  auto search = [&](LinearInput which, std::vector<AwqLinear> ls) {
    const CapturedInput& c = cap.captured[int(which)];
    AwqScaleResult r = awq_search_scales(pool, c.rows.data(), c.n_rows, c.features, c.abs_mean, ls, o.grid, o.awq);
    stats.awq_ratios.push_back(r.ratio);
    return r.scales;
  };
  const auto s_qkv = search(LinearInput::AttnQKV, {lin(work.wq), lin(work.wk), lin(work.wv)});
  // V -> O only when V's outputs are O's inputs one to one (no grouped-query sharing).
  const bool scale_vo = work.wv.rows == work.wo.cols;
  std::vector<float> s_vo;
  if (scale_vo) s_vo = search(LinearInput::AttnOutput, {lin(work.wo)});
  const auto s_ffn = search(LinearInput::FfnGateUp, {lin(work.ffn_gate), lin(work.ffn_up)});
  const auto s_down = search(LinearInput::FfnDown, {lin(work.ffn_down)});

  for (size_t i = 0; i < work.attn_norm.size(); ++i) work.attn_norm[i] /= s_qkv[i];
  for (WeightMatrix* m : {&work.wq, &work.wk, &work.wv}) scale_columns(*m, s_qkv);
  divide_inputs(cap.captured[int(LinearInput::AttnQKV)], s_qkv);
  if (scale_vo) {
    divide_rows(work.wv, work.v_bias, s_vo);
    scale_columns(work.wo, s_vo);
    divide_inputs(cap.captured[int(LinearInput::AttnOutput)], s_vo);
  }
  for (size_t i = 0; i < work.ffn_norm.size(); ++i) work.ffn_norm[i] /= s_ffn[i];
  for (WeightMatrix* m : {&work.ffn_gate, &work.ffn_up}) scale_columns(*m, s_ffn);
  divide_inputs(cap.captured[int(LinearInput::FfnGateUp)], s_ffn);
  std::vector<float> no_bias;
  divide_rows(work.ffn_up, no_bias, s_down);
  scale_columns(work.ffn_down, s_down);
  divide_inputs(cap.captured[int(LinearInput::FfnDown)], s_down);

  for (LinearInput which : {LinearInput::AttnQKV, LinearInput::AttnOutput, LinearInput::FfnGateUp, LinearInput::FfnDown}) {
    const CapturedInput& c = cap.captured[int(which)];
    for (const LinearSlot& slot : consumers(which)) {
      WeightMatrix& m = work.*slot.member;
      const bool query_or_key = slot.member == &LayerWeights::wq || slot.member == &LayerWeights::wk;
      if (!query_or_key) awq_clip(pool, f32_data(m), m.rows, m.cols, c.rows.data(), c.n_rows, o.grid, o.awq);
      QuantizedTensor t;
      t.name = tensor_name(layer, slot);
      t.rows = m.rows, t.cols = m.cols;
      t.int_grid = quantize_rtn(f32_data(m), m.rows, m.cols, o.grid);
      m = store.adopt(t.int_grid->dequantize(), t.rows, t.cols);
      result.tensors.push_back(std::move(t));
    }
  }
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::Rtn: return "rtn";
    case Method::Gptq: return "gptq";
    case Method::Awq: return "awq";
    case Method::Nf4: return "nf4";
    case Method::Fp4: return "fp4";
    case Method::Int8: return "int8";
  }
  return "?";
}

Method parse_method(const std::string& name) {
  for (Method m : {Method::Rtn, Method::Gptq, Method::Awq, Method::Nf4, Method::Fp4, Method::Int8})
    if (name == method_name(m)) return m;
  throw Error("--method", name, "expected rtn, gptq, awq, nf4, fp4 or int8");
}

bool method_needs_calibration(Method m) { return m == Method::Gptq || m == Method::Awq; }
bool method_is_int_grid(Method m) { return m == Method::Rtn || m == Method::Gptq || m == Method::Awq; }

WeightMatrix WeightStore::adopt(std::vector<float> values, int64_t rows, int64_t cols) {
  buffers.push_back(std::move(values));
  return make_weight_matrix(FormatId::F32, buffers.back().data(), rows, cols);
}

double quantized_bits_per_weight(const QuantizeResult& r) {
  double bits = 0, weights = 0;
  for (const QuantizedTensor& t : r.tensors) {
    weights += double(t.rows * t.cols);
    if (t.int_grid) {
      const auto& m = *t.int_grid;
      // codes + f16 scale and packed zero per (row, group) + one int32 g_idx entry per column
      bits += double(m.spec.bits) * double(t.rows * t.cols) + double(m.n_groups * t.rows) * (16.0 + m.spec.bits) +
              32.0 * double(t.cols);
    } else if (t.bnb4) {
      bits += 4.0 * double(t.rows * t.cols) + 32.0 * double(t.bnb4->blocks());
    } else if (t.int8) {
      bits += 8.0 * double(t.rows * t.cols) + 32.0 * double(t.rows);
    } else if (t.gguf) {
      bits += 8.0 * double(t.gguf->bytes.size());
    }
  }
  return weights > 0 ? bits / weights : 0;
}

std::vector<float> decode_matrix(const WeightMatrix& w) {
  std::vector<float> out(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) row_to_f32(w.format, w.row(r), out.data() + r * w.cols, w.cols);
  return out;
}

QuantizeResult quantize_model(const Model& source, const std::vector<std::vector<int32_t>>& calibration,
                              const QuantizeOptions& options_in, ThreadPool& pool, const LayerProgressFn& progress) {
  const auto t0 = Clock::now();
  QuantizeOptions o = options_in;
  if (o.method == Method::Awq) {
    if (o.grid.symmetric) throw Error("--sym", "", "AWQ quantizes asymmetrically (zero points); drop --sym");
    o.grid.rule = IntGridRule::AwqMinMax;
  }
  if (o.method == Method::Nf4) o.bnb4.type = bnb::QuantType::NF4;
  if (o.method == Method::Fp4) o.bnb4.type = bnb::QuantType::FP4;
  if (!o.gguf_types.empty() && o.method != Method::Gptq)
    throw Error("--type", "", "GGUF block types are a target of --method gptq only (use --method gguf for llama-quantize's path)");
  const bool calibrated = method_needs_calibration(o.method);
  if (calibrated && calibration.empty())
    throw Error("calibration", "samples", std::string(method_name(o.method)) + " needs at least one calibration sample");

  QuantizeResult result;
  result.model = source;
  auto store = std::make_shared<WeightStore>();
  store->parent = source.storage;
  result.model.storage = store;

  const int n_layer = int(source.config.n_layer);
  LayerRunner runner(source.config, pool);
  SampleBatch batch;
  if (calibrated) {
    batch = runner.embed(source, calibration);
    result.calibration_tokens = batch.n_tokens();
  }
  for (int l = 0; l < n_layer; ++l) {
    const auto tl = Clock::now();
    LayerStats stats;
    stats.layer = l;
    WeightStore work_store;  // the layer's f32 copy, freed at the end of the iteration
    LayerWeights work = source.layers[size_t(l)];
    for (const LinearSlot& slot : kSlots) {
      const WeightMatrix& src = source.layers[size_t(l)].*slot.member;
      std::vector<float> w = decode_matrix(src);
      for (float v : w)
        if (!std::isfinite(v)) throw Error(source.source, tensor_name(l, slot), "non-finite weight");
      work.*slot.member = work_store.adopt(std::move(w), src.rows, src.cols);
    }
    if (o.method == Method::Gptq) {
      GptqHook hook(o, *store, result, stats);
      runner.run_layer(l, work, batch, &hook);
    } else if (o.method == Method::Awq) {
      CaptureHook cap(std::max(o.awq.max_search_tokens, o.awq.clip_tokens));
      std::vector<float> saved = batch.hidden;  // the float pass only observes
      runner.run_layer(l, work, batch, &cap);
      batch.hidden = std::move(saved);
      awq_layer(pool, l, work, cap, o, *store, result, stats);
      runner.run_layer(l, work, batch);  // the quantized layer feeds the next one
    } else {
      for (const LinearSlot& slot : kSlots) {
        WeightMatrix& m = work.*slot.member;
        QuantizedTensor t;
        t.name = tensor_name(l, slot);
        t.rows = m.rows, t.cols = m.cols;
        std::vector<float> deq = quantize_plain(f32_data(m), m.rows, m.cols, o, t);
        m = store->adopt(std::move(deq), t.rows, t.cols);
        result.tensors.push_back(std::move(t));
      }
    }
    result.model.layers[size_t(l)] = work;
    stats.seconds = std::chrono::duration<double>(Clock::now() - tl).count();
    result.layers.push_back(stats);
    if (progress) progress(l + 1, n_layer, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result;
}

}  // namespace quantlab::pipeline
