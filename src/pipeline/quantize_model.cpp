#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/backend/linalg.hpp"
#include "quantlab/core/phase_times.hpp"
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/quant/gptq_hessian.hpp"
#include "quantlab/quant/hessian.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
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

bool all_finite(const std::vector<float>& w, ThreadPool& pool) {
  std::vector<char> bad(size_t(pool.size()), 0);
  pool.parallel_for(int64_t(w.size()), [&](int64_t i0, int64_t i1, int thread) {
    for (int64_t i = i0; i < i1; ++i)
      if (!std::isfinite(w[size_t(i)])) bad[size_t(thread)] = 1;
  });
  return std::find(bad.begin(), bad.end(), 1) == bad.end();
}

// Replaces an f32 working matrix's values by their quantized (dequantized) values, in place: the
// layer's working copy becomes the quantized layer, with no second buffer.
void store_values(WeightMatrix& m, const std::vector<float>& values) {
  std::copy(values.begin(), values.end(), f32_data(m));
}

// GPTQ as a layer hook: each group's Hessian from every micro-batch's inputs at that point, the
// group's linears quantized and swapped in before the next stage runs (true-sequential).
class GptqHook : public LayerHook {
 public:
  // The Hessian sums are split across `pool` by element; every element is summed token after
  // token either way, so the pool changes no bit.
  GptqHook(const QuantizeOptions& o, std::vector<QuantizedTensor>& out, LayerStats& stats, ThreadPool& pool)
      : o_(o), out_(out), stats_(stats), pool_(pool) {}

  void observe(int, LinearInput, const float* x, int64_t, int64_t n_tokens, int64_t n_features) override {
    if (!acc_) acc_.emplace(n_features, &pool_);
    acc_->add(x, n_tokens);
  }

  // On a GPU the sums stay on the device (the activations are never copied back); the Hessian
  // comes to the host once per stage.
  bool observe_on(Backend& be, int, LinearInput, const Tensor& x, int64_t) override {
    if (device_sum_.empty()) {
      device_sum_ = be.alloc(FormatId::F64, x.cols, x.cols);
      be.zero(device_sum_);  // on the device: no n x n host buffer of zeros (6.6 GB for a 70B's down_proj)
      device_ = &be;
    }
    be.gram_accumulate(x, device_sum_);
    device_tokens_ += x.rows;
    return true;
  }

  void stage_done(int layer, LinearInput which, LayerWeights& weights) override {
    // The stage's Hessian where it was summed (a GPU's never comes to the host), prepared once for
    // all of the stage's linears: they share its factor when they share the processing order.
    std::optional<PhaseScope> preparing(std::in_place, "gptq.hessian");
    std::vector<double> host_sums;
    std::optional<GptqHessian> h;
    if (!device_sum_.empty()) {
      h.emplace(*device_, std::move(device_sum_), 2.0 / double(device_tokens_));
      device_sum_ = {};
      device_tokens_ = 0;
    } else {
      const int64_t n = acc_->dim(), tokens = acc_->tokens();
      host_sums = acc_->take_sums();
      if (!cpu_) cpu_ = make_cpu_backend(pool_);
      h.emplace(*cpu_, host_tensor(FormatId::F64, host_sums.data(), n, n), tokens == 0 ? 0.0 : 2.0 / double(tokens));
    }
    acc_.reset();  // its sums are now the Hessian's
    preparing.reset();
    const std::vector<LinearSlot> slots = consumers(which);
    // A NaN or infinite activation makes its input's diagonal entry (a sum of squares) non-finite:
    // name the cause here rather than let the factorization fail on "not positive definite".
    for (int64_t c = 0; c < h->n(); ++c)
      if (!std::isfinite(h->diagonal()[size_t(c)]))
        throw Error(tensor_name(layer, slots.front()), "calibration activations",
                    "input " + std::to_string(c) + " is NaN or infinite on the calibration data (the layer overflows)");
    for (const LinearSlot& slot : slots) {
      WeightMatrix& m = weights.*slot.member;
      QuantizedTensor t;
      t.name = tensor_name(layer, slot);
      t.rows = m.rows, t.cols = m.cols;
      GptqReport rep;
      try {
        quantize_one(t, m, *h, rep);
      } catch (const Error& e) {  // the quantizers name the field; the tensor is known here
        if (!e.source().empty()) throw;
        throw Error(t.name, e.field(), e.message());
      }
      stats_.gptq_loss += rep.loss;
      stats_.dead_columns += rep.dead_columns;
      out_.push_back(std::move(t));
    }
  }

 private:
  // One linear by GPTQ: onto integer groups, or onto its planned GGUF type (a grid GPTQ can walk, else
  // that type's plain encoder with the Hessian's diagonal as importance).
  void quantize_one(QuantizedTensor& t, WeightMatrix& m, GptqHessian& h, GptqReport& rep) {
    if (o_.gguf_types.empty()) {
      t.int_grid = gptq_quantize(f32_data(m), m.rows, m.cols, h, o_.grid, o_.gptq, &rep, &pool_);
      const PhaseScope storing("gptq.store");
      const IntQuantizedMatrix& q = *t.int_grid;
      float* values = f32_data(m);
      pool_.parallel_for(q.rows, [&](int64_t r0, int64_t r1, int) { q.dequantize_rows(r0, r1, values + r0 * q.cols); });
    } else {
      const auto type = o_.gguf_types.find(t.name);
      if (type == o_.gguf_types.end()) throw Error(t.name, "type", "no GGUF type was planned for this tensor");
      t.gguf_gptq = gptq_gguf_supports(type->second);
      if (t.gguf_gptq) {
        t.gguf = gptq_quantize_gguf(f32_data(m), m.rows, m.cols, h, type->second, o_.gptq, &rep, &pool_);
      } else {
        std::vector<float> diag(size_t(m.cols));
        for (int64_t c = 0; c < m.cols; ++c) diag[size_t(c)] = float(h.diagonal()[size_t(c)]);
        t.gguf = encode_gguf_matrix(f32_data(m), m.rows, m.cols, type->second, diag.data());
      }
      store_values(m, t.gguf->dequantized);
      t.gguf->dequantized = {};  // the layer holds them now
    }
  }

  const QuantizeOptions& o_;
  std::vector<QuantizedTensor>& out_;
  LayerStats& stats_;
  ThreadPool& pool_;
  std::optional<HessianAccumulator> acc_;
  Backend* device_ = nullptr;
  std::unique_ptr<Backend> cpu_;  // the CPU path's factor and updates, over the hook's pool
  Tensor device_sum_;
  int64_t device_tokens_ = 0;
};

// AWQ's statistics of every input group over every calibration token: mean |x| and second moments.
// On the CPU they are summed on the host (HessianAccumulator's fixed chunks); on a GPU where the
// runner computed the inputs (Gram sums and Σ|x| on the device), and come to the host once.
class CaptureHook : public LayerHook {
 public:
  explicit CaptureHook(ThreadPool& pool) : pool_(pool) {}
  AwqInputStats stats[4];
  // The backend that summed on its device (the search runs there too), or null.
  Backend* device() const { return device_; }

  void observe(int, LinearInput which, const float* x, int64_t, int64_t n, int64_t n_features) override {
    Accumulating& a = accumulating_[int(which)];
    if (!a.moments) {
      a.abs_sum.assign(size_t(n_features), 0.0);
      a.moments.emplace(n_features, &pool_);
    }
    // Token by token, in batch order whatever the micro-batches: the same sums as in one pass (the
    // moments are summed over fixed 256-token chunks, HessianAccumulator).
    column_abs_sums(x, n, n_features, a.abs_sum.data());
    a.moments->add(x, n);
  }

  bool observe_on(Backend& be, int, LinearInput which, const Tensor& x, int64_t) override {
    Accumulating& a = accumulating_[int(which)];
    if (a.device_sum.empty()) {
      a.device_sum = be.alloc(FormatId::F64, x.cols, x.cols);
      be.zero(a.device_sum);
      a.device_abs = be.alloc(FormatId::F64, 1, x.cols);
      be.zero(a.device_abs);
      device_ = &be;
    }
    be.gram_accumulate(x, a.device_sum);
    be.column_abs_sums(x, a.device_abs);
    a.device_tokens += x.rows;
    return true;
  }

  void finish() {
    for (int i = 0; i < 4; ++i) {
      Accumulating& a = accumulating_[i];
      std::vector<double> h, abs_sum;  // 2/N Σ xᵀx (both triangles) and Σ|x|
      int64_t n = 0, tokens = 0;
      if (a.moments) {
        n = a.moments->dim();
        tokens = a.moments->tokens();
        h = a.moments->take_hessian();
        abs_sum = std::move(a.abs_sum);
      } else if (!a.device_sum.empty()) {
        n = a.device_sum.cols;
        tokens = a.device_tokens;
        std::vector<double> sums(size_t(n * n));
        abs_sum.resize(size_t(n));
        device_->to_host(a.device_sum, sums.data());
        device_->to_host(a.device_abs, abs_sum.data());
        h = hessian_from_gram(std::move(sums), n, tokens, &pool_);  // the device summed the upper triangle
      }
      a = Accumulating{};
      if (n == 0) continue;
      AwqInputStats& s = stats[i];
      s.cols = n;
      s.abs_mean.resize(size_t(n));
      for (int64_t f = 0; f < n; ++f) s.abs_mean[size_t(f)] = float(abs_sum[size_t(f)] / double(tokens));
      s.moments.resize(h.size());
      for (size_t k = 0; k < h.size(); ++k) s.moments[k] = float(0.5 * h[k]);
    }
  }

 private:
  struct Accumulating {
    std::vector<double> abs_sum;
    std::optional<HessianAccumulator> moments;
    Tensor device_sum, device_abs;
    int64_t device_tokens = 0;
  };
  ThreadPool& pool_;
  Backend* device_ = nullptr;
  Accumulating accumulating_[4];
};

void scale_columns(ThreadPool& pool, WeightMatrix& m, const std::vector<float>& s) {
  float* w = f32_data(m);
  pool.parallel_for(m.rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] *= s[size_t(c)];
  });
}

void divide_rows(ThreadPool& pool, WeightMatrix& m, std::vector<float>& bias, const std::vector<float>& s) {
  float* w = f32_data(m);
  pool.parallel_for(m.rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] /= s[size_t(r)];
  });
  for (size_t r = 0; r < bias.size(); ++r) bias[r] /= s[r];
}

// AWQ on one layer whose linears are f32 in `work`: search all scales on the float layer's inputs
// (as AutoAWQ does), fold them in, clip, quantize.
void awq_layer(ThreadPool& pool, int layer, LayerWeights& work, CaptureHook& cap, const QuantizeOptions& o,
               std::vector<QuantizedTensor>& out, LayerStats& stats) {
  auto lin = [](WeightMatrix& m) { return AwqLinear{f32_data(m), m.rows}; };
  // The candidates are scored where the statistics were summed: on the GPU, or the CPU backend.
  std::unique_ptr<Backend> cpu;
  Backend* be = cap.device();
  if (!be) be = (cpu = make_cpu_backend(pool)).get();
  auto search = [&](LinearInput which, std::vector<AwqLinear> ls) {
    const PhaseScope searching("awq.scales");
    AwqScaleResult r = awq_search_scales(*be, cap.stats[int(which)], ls, o.grid, o.awq);
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
  for (WeightMatrix* m : {&work.wq, &work.wk, &work.wv}) scale_columns(pool, *m, s_qkv);
  cap.stats[int(LinearInput::AttnQKV)].divide_inputs(s_qkv);
  if (scale_vo) {
    divide_rows(pool, work.wv, work.v_bias, s_vo);
    scale_columns(pool, work.wo, s_vo);
    cap.stats[int(LinearInput::AttnOutput)].divide_inputs(s_vo);
  }
  for (size_t i = 0; i < work.ffn_norm.size(); ++i) work.ffn_norm[i] /= s_ffn[i];
  for (WeightMatrix* m : {&work.ffn_gate, &work.ffn_up}) scale_columns(pool, *m, s_ffn);
  cap.stats[int(LinearInput::FfnGateUp)].divide_inputs(s_ffn);
  std::vector<float> no_bias;
  divide_rows(pool, work.ffn_up, no_bias, s_down);
  scale_columns(pool, work.ffn_down, s_down);
  cap.stats[int(LinearInput::FfnDown)].divide_inputs(s_down);

  for (LinearInput which : {LinearInput::AttnQKV, LinearInput::AttnOutput, LinearInput::FfnGateUp, LinearInput::FfnDown}) {
    const AwqInputStats& x = cap.stats[int(which)];
    Tensor g;  // the input's moments where the clipping runs (placed once, for its first clipped linear)
    for (const LinearSlot& slot : consumers(which)) {
      WeightMatrix& m = work.*slot.member;
      const bool query_or_key = slot.member == &LayerWeights::wq || slot.member == &LayerWeights::wk;
      if (!query_or_key) {
        const PhaseScope clipping("awq.clip");
        if (g.empty()) g = be->place(host_tensor(FormatId::F32, x.moments.data(), x.cols, x.cols));
        Tensor w = be->place(host_tensor(FormatId::F32, f32_data(m), m.rows, m.cols));
        awq_clip(*be, w, g, o.grid, o.awq);
        be->to_host(w, f32_data(m));  // the CPU clipped in place: nothing to copy
      }
      const PhaseScope rounding("awq.quantize");
      QuantizedTensor t;
      t.name = tensor_name(layer, slot);
      t.rows = m.rows, t.cols = m.cols;
      t.int_grid = quantize_rtn(f32_data(m), m.rows, m.cols, o.grid, &pool);
      const IntQuantizedMatrix& q = *t.int_grid;
      float* values = f32_data(m);
      pool.parallel_for(q.rows, [&](int64_t r0, int64_t r1, int) { q.dequantize_rows(r0, r1, values + r0 * q.cols); });
      out.push_back(std::move(t));
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

double quantized_bits(const QuantizedTensor& t) {
  if (t.int_grid) {
    const auto& m = *t.int_grid;
    // codes + f16 scale and packed zero per (row, group) + one int32 g_idx entry per column
    return double(m.spec.bits) * double(t.rows * t.cols) + double(m.n_groups * t.rows) * (16.0 + m.spec.bits) +
           32.0 * double(t.cols);
  }
  if (t.bnb4) return 4.0 * double(t.rows * t.cols) + 32.0 * double(t.bnb4->blocks());
  if (t.int8) return 8.0 * double(t.rows * t.cols) + 32.0 * double(t.rows);
  if (t.gguf) return 8.0 * double(t.gguf->bytes.size());
  return 0;
}

double quantized_bits_per_weight(const QuantizeResult& r) {
  return r.quantized_weights > 0 ? r.quantized_bits / r.quantized_weights : 0;
}

std::vector<float> decode_matrix(const WeightMatrix& w, ThreadPool* pool) {
  std::vector<float> out(size_t(w.rows * w.cols));
  auto decode = [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) row_to_f32(w.format, w.row(r), out.data() + r * w.cols, w.cols);
  };
  if (pool && pool->size() > 1 && w.rows * w.cols >= (int64_t(1) << 16)) pool->parallel_for(w.rows, decode);
  else decode(0, w.rows, 0);
  return out;
}

QuantizeResult quantize_model(const Model& source, const std::vector<std::vector<int32_t>>& calibration,
                              const QuantizeOptions& options_in, ThreadPool& pool, const LayerProgressFn& progress,
                              LayerSink* sink) {
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
  result.complete = o.keep_model;

  // The memory the run will add, checked against the budgets before any work.
  CalibrationShape shape;
  for (const auto& s : calibration) {
    shape.tokens += int64_t(s.size());
    shape.longest_sample = std::max<int64_t>(shape.longest_sample, int64_t(s.size()));
  }
  shape.samples = int64_t(calibration.size());
  if (!calibrated) shape = {};
  const bool on_gpu = calibrated && !o.device.is_cpu();
  LayerRunner runner(source.config, pool, o.device);
  runner.set_micro_batch(o.micro_batch_tokens);
  runner.allow_tf32(o.tf32_calibration);
  struct Profiling {  // the clock is the process's: off again however the run ends
    explicit Profiling(bool on, LayerRunner& r) : on(on) {
      if (on) phase_times().enable([&r] { r.synchronize(); });
    }
    ~Profiling() {
      if (on) phase_times().disable();
    }
    bool on;
  } profiling(o.profile, runner);
  // The hidden states stay on the GPU when the plan with them fits, and GPTQ's attention results
  // too when that still fits; the budgets are then checked on the plan as it will run.
  QuantizeOptions planned = o;
  planned.attention_on_device = o.attention_on_device && o.hidden_on_device;
  if (on_gpu && o.hidden_on_device) {
    double limit = double(runner.memory_use().free);
    if (o.max_device_bytes > 0) limit = std::min(limit, o.max_device_bytes);
    const auto fits = [&] { return plan_memory(source, planned, shape).device_bytes() <= limit; };
    if (planned.attention_on_device && !fits()) planned.attention_on_device = false;
    planned.hidden_on_device = fits();
    planned.attention_on_device = planned.attention_on_device && planned.hidden_on_device;
  }
  runner.keep_hidden_on_device(on_gpu && planned.hidden_on_device);
  runner.keep_attention_on_device(on_gpu && planned.attention_on_device);
  result.memory_plan = plan_memory(source, planned, shape);
  if (o.max_device_bytes > 0 && !on_gpu)
    throw Error("--max-gpu-memory", "", std::string("this run uses no GPU (") +
                                             (calibrated ? "--device " + o.device.name() : std::string(method_name(o.method)) + " runs no calibration") + ")");
  check_memory_budget(source, planned, shape, false, o.max_host_bytes, "--max-host-memory",
                      "--max-host-memory (" + format_bytes(o.max_host_bytes) + ")");

  const int n_layer = int(source.config.n_layer);
  if (on_gpu) {
    check_memory_budget(source, planned, shape, true, o.max_device_bytes, "--max-gpu-memory",
                        "--max-gpu-memory (" + format_bytes(o.max_device_bytes) + ")");
    const DeviceMemoryUse use = runner.memory_use();
    check_memory_budget(source, planned, shape, true, double(use.free), o.device.name(),
                        "the free memory of " + o.device.name() + " (" + format_bytes(double(use.free)) + ")");
  }
  SampleBatch batch;
  if (calibrated) {
    batch = runner.embed(source, calibration);
    result.calibration_tokens = batch.n_tokens();
    // The embedding rows were copied; their pages are not needed until the export reads them.
    release_weight_pages(source.token_embd);
  }
  for (int l = 0; l < n_layer; ++l) {
    const auto tl = Clock::now();
    LayerStats stats;
    stats.layer = l;
    // The layer's f32 working copy; quantizing overwrites it with the quantized values, so it is
    // the quantized layer at the end of the iteration.
    WeightStore work_store;
    LayerWeights work = source.layers[size_t(l)];
    std::optional<PhaseScope> decoding(std::in_place, "decode weights");
    for (const LinearSlot& slot : kSlots) {
      const WeightMatrix& src = source.layers[size_t(l)].*slot.member;
      std::vector<float> w = decode_matrix(src, &pool);
      release_weight_pages(src);  // the source layer is read once
      if (!all_finite(w, pool)) throw Error(source.source, tensor_name(l, slot), "non-finite weight");
      work.*slot.member = work_store.adopt(std::move(w), src.rows, src.cols);
    }
    decoding.reset();
    std::vector<QuantizedTensor> tensors;
    if (o.method == Method::Gptq) {
      GptqHook hook(o, tensors, stats, pool);
      runner.run_layer(l, work, batch, &hook);
    } else if (o.method == Method::Awq) {
      CaptureHook cap(pool);
      runner.observe_layer(l, work, batch, cap);  // the float pass only observes
      const PhaseScope searching("awq search");  // statistics to the host, scales, clipping, rounding
      cap.finish();
      awq_layer(pool, l, work, cap, o, tensors, stats);
      runner.run_layer(l, work, batch);  // the quantized layer feeds the next one
    } else {
      for (const LinearSlot& slot : kSlots) {
        WeightMatrix& m = work.*slot.member;
        QuantizedTensor t;
        t.name = tensor_name(l, slot);
        t.rows = m.rows, t.cols = m.cols;
        store_values(m, quantize_plain(f32_data(m), m.rows, m.cols, o, t));
        tensors.push_back(std::move(t));
      }
    }
    for (const QuantizedTensor& t : tensors) {
      result.quantized_bits += quantized_bits(t);
      result.quantized_weights += double(t.rows * t.cols);
    }
    if (sink) {
      const PhaseScope writing("write layer");
      sink->layer_done(l, work, tensors);
    }
    if (o.keep_model) {
      for (auto& b : work_store.buffers) store->buffers.push_back(std::move(b));  // moving keeps the data where it is
      result.model.layers[size_t(l)] = work;
      for (QuantizedTensor& t : tensors) result.tensors.push_back(std::move(t));
    } else {
      // Streamed: the layer's values went to the sink and are freed with work_store; the model
      // keeps its norms and biases (small) but no linears.
      for (const LinearSlot& slot : kSlots) work.*slot.member = WeightMatrix{};
      result.model.layers[size_t(l)] = std::move(work);
    }
    stats.seconds = std::chrono::duration<double>(Clock::now() - tl).count();
    result.layers.push_back(stats);
    if (progress) progress(l + 1, n_layer, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.device_memory = runner.memory_use();
  if (o.profile) result.phases = phase_times().phases();
  return result;
}

void release_weight_pages(const WeightMatrix& m) {
  if (m.data) release_mapped_pages(m.data, size_t(m.rows) * m.row_stride);
}

}  // namespace quantlab::pipeline
