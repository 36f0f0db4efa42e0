// The CUDA backend against the CPU backend, in the style of llama.cpp's test-backend-ops: every op x
// every format the CUDA backend takes x awkward shapes (odd token counts, rows that are not a
// multiple of 4 or 256, GQA ratios 1/3/7, sliding windows, both RoPE styles, head dims 64/128/256),
// compared by normalized error  sum (gpu - cpu)^2 / sum cpu^2  against the bounds below, and every
// GPU op run twice: the two results must be bit-identical (no atomics, fixed reduction orders).
//
// Bounds (why each is what it is):
//   exact ops (add, add_row, scale):                         0
//   elementwise with libm calls (rms_norm, softcap, SiLU, rope): 1e-10 (ulp differences of exp, tanh,
//     sin/cos, and of RMSNorm's double sum taken in another order)
//   GELU (ggml's f16 table, copied bit for bit), embedding decode: 1e-12 (0 from a host table)
//   matmul, quantized weights, 1..8 tokens: 1e-6. Both sides multiply the same 8-bit activations
//     (the GPU rounds them exactly as the CPU does); they differ in float summation order and in
//     Q4_1/Q5_1's minimum term (the CPU rounds d*sum(q) to f16 there, as llama.cpp does).
//   matmul, quantized weights, more tokens: 2e-5 (weights decoded to f16 for cuBLAS, activations'
//     8-bit values converted to f16: two roundings of 2^-11 relative at most)
//   matmul f32: 1e-10; f16 weights 1..8 tokens: 1e-10, more tokens 2e-6 (activations to f16);
//     bf16 weights more tokens: 1e-4 (activations to bf16, 2^-8 relative)
//   attention: 2e-5 (the GPU keeps the KV cache in f16, 2^-11 relative per value)
// Without a GPU (or a build without CUDA) every test skips and one line says how many cases did not run.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/device.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/formats/format.hpp"
#include "quantlab/quant/awq.hpp"
#include "quantlab/quant/gptq.hpp"
#include "quantlab/quant/gptq_gguf.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if QUANTLAB_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace quantlab {
namespace {

using test::randoms;

double normalized_error(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double num = 0, den = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double d = double(gpu[i]) - double(cpu[i]);
    num += d * d;
    den += double(cpu[i]) * double(cpu[i]);
  }
  if (!std::isfinite(num)) return INFINITY;
  return den > 0 ? num / den : num;
}

// ---- the cases, listed before anything runs so that a machine without a GPU can count them

const std::vector<FormatId> kMatmulFormats = {
    FormatId::F32,  FormatId::F16,  FormatId::BF16, FormatId::Q4_0, FormatId::Q4_1,   FormatId::Q5_0,
    FormatId::Q5_1, FormatId::Q8_0, FormatId::Q2_K, FormatId::Q3_K, FormatId::Q4_K,   FormatId::Q5_K,
    FormatId::Q6_K, FormatId::IQ4_NL, FormatId::IQ4_XS};

struct MatmulCase {
  FormatId format;
  int64_t rows, cols, tokens;
};

std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> cases;
  for (FormatId f : kMatmulFormats) {
    const int64_t bs = format_traits(f).block_size;
    // Columns: 3 blocks (of 32 or 256), and a wide row (not a multiple of 256 for 32-blocks).
    const int64_t narrow = bs == 256 ? 768 : 96;
    const int64_t wide = bs == 256 ? 2816 : 1376;
    for (int64_t tokens : {1, 3, 7, 8, 9, 33, 512})
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{67, narrow}, {301, wide}}) {
        if (tokens == 512 && rows == 301 && f != FormatId::Q4_K && f != FormatId::Q4_0 && f != FormatId::F16) continue;
        cases.push_back({f, rows, cols, tokens});
      }
  }
  return cases;
}

struct AttentionCase {
  int64_t n_head_kv, group, head_dim, window;
  std::vector<int64_t> chunks;  // tokens per call, in order (the first at position 0)
};

std::vector<AttentionCase> attention_cases() {
  std::vector<AttentionCase> cases;
  for (int64_t group : {1, 3, 7})
    for (int64_t head_dim : {64, 128})
      for (int64_t window : {0, 16}) {
        cases.push_back({2, group, head_dim, window, {1, 1, 3}});
        cases.push_back({2, group, head_dim, window, {7, 33, 1, 1}});
        cases.push_back({2, group, head_dim, window, {512, 1, 7}});
      }
  cases.push_back({1, 1, 256, 0, {33, 1}});           // Gemma's head size
  cases.push_back({4, 2, 128, 0, {1000, 1, 3}});      // a long context: split-K decode
  cases.push_back({1, 7, 64, 100, {600, 1, 1}});      // window inside a long context
  return cases;
}

constexpr int kEmbedCases = 4;        // per format: token counts 1 and 7 (scale 1 and not), table placed or on the host
constexpr int kNormCases = 5;
constexpr int kElementwiseCases = 6;  // add, add_row, scale, softcap, SiLU, GELU
constexpr int kRopeCases = 16;        // 2 position counts x 2 styles x 2 head dims x (full, partial with factors)

int total_cases() {
  int attention_calls = 0;
  for (const auto& c : attention_cases()) attention_calls += int(c.chunks.size());
  return int(matmul_cases().size()) + attention_calls + kEmbedCases * int(kMatmulFormats.size()) + kNormCases +
         kElementwiseCases + kRopeCases;
}

// ---- the two backends

struct Backends {
  ThreadPool pool{int(std::max(1u, std::min(16u, std::thread::hardware_concurrency())))};
  std::unique_ptr<Backend> cpu = make_cpu_backend(pool);
  std::unique_ptr<Backend> gpu;
};

Backends* backends() {
  static std::unique_ptr<Backends> b = [] {
    auto p = std::make_unique<Backends>();
    if (cuda_device_count() > 0) p->gpu = make_backend(Device{DeviceType::Cuda, 0}, p->pool);
    return p;
  }();
  return b.get();
}

bool have_gpu() {
  if (backends()->gpu) return true;
  static bool said = false;
  if (!said) {
    std::printf("no GPU found: %d CUDA parity cases not run\n", total_cases());
    said = true;
  }
  return false;
}

#define REQUIRE_GPU() \
  if (!have_gpu()) QUANTLAB_SKIP() << "no GPU"

// Rows x cols of `format` encoded from `values` (row by row, no importance), as bytes.
std::vector<uint8_t> encode(FormatId format, const std::vector<float>& values, int64_t rows, int64_t cols) {
  const auto& f = format_traits(format);
  const size_t rb = row_bytes(format, cols);
  std::vector<uint8_t> bytes(rb * size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    if (format == FormatId::F32) std::memcpy(bytes.data() + rb * r, values.data() + r * cols, rb);
    else f.from_float(values.data() + r * cols, bytes.data() + rb * r, cols, nullptr);
  }
  return bytes;
}

// An f32 host tensor copied onto `b` (the CPU backend returns it as is: keep `host` alive).
Tensor on(Backend& b, const std::vector<float>& host, int64_t rows, int64_t cols) {
  Tensor t = b.alloc(FormatId::F32, rows, cols);
  b.from_host(host.data(), t);
  return t;
}

std::vector<float> back(Backend& b, const Tensor& t) {
  std::vector<float> v(size_t(t.rows * t.cols));
  b.to_host(t, v.data());
  return v;
}

// Runs `op` on the GPU twice from the same inputs (made fresh by `inputs`) and expects the same bits.
void expect_repeatable(const std::string& what, const std::function<std::vector<float>()>& run_once) {
  const std::vector<float> a = run_once(), b = run_once();
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what << ": two GPU runs differ";
}

std::string name_of(FormatId f) { return std::string(format_traits(f).name); }

TEST(CudaParity, Matmul) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  uint32_t seed = 1;
  for (const MatmulCase& c : matmul_cases()) {
    const std::string what = name_of(c.format) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols) + ", " +
                             std::to_string(c.tokens) + " tokens";
    const auto wv = randoms(size_t(c.rows * c.cols), seed++, 0.05f);
    const auto xv = randoms(size_t(c.tokens * c.cols), seed++);
    const std::vector<uint8_t> wbytes = encode(c.format, wv, c.rows, c.cols);
    const Tensor host_w = host_tensor(c.format, wbytes.data(), c.rows, c.cols);
    Tensor xc = on(*bk.cpu, xv, c.tokens, c.cols), yc = bk.cpu->alloc(FormatId::F32, c.tokens, c.rows);
    bk.cpu->matmul(host_w, xc, yc);
    const std::vector<float> ref = back(*bk.cpu, yc);

    const Tensor gw = bk.gpu->place(host_w);
    auto run = [&] {
      Tensor xg = on(*bk.gpu, xv, c.tokens, c.cols), yg = bk.gpu->alloc(FormatId::F32, c.tokens, c.rows);
      bk.gpu->matmul(gw, xg, yg);
      return back(*bk.gpu, yg);
    };
    const std::vector<float> got = run();
    if (c.tokens <= 8) {
      // Two products of one x (q, k, v share their input): the second reuses the first's rounding.
      Tensor xg = on(*bk.gpu, xv, c.tokens, c.cols), y1 = bk.gpu->alloc(FormatId::F32, c.tokens, c.rows),
             y2 = bk.gpu->alloc(FormatId::F32, c.tokens, c.rows);
      bk.gpu->matmul(gw, xg, y1);
      bk.gpu->matmul(gw, xg, y2);
      EXPECT_EQ(back(*bk.gpu, y2), got) << what << ": second product of the same x";
      // ... and an op that changes x in between forces a new rounding.
      bk.gpu->scale(xg, 2.0f);
      bk.gpu->matmul(gw, xg, y2);
      std::vector<float> doubled = back(*bk.gpu, y2);
      for (float& v : doubled) v *= 0.5f;
      EXPECT_LE(normalized_error(doubled, got), 1e-10) << what << ": x changed between products";
    }
    const bool gemv = c.tokens <= 8;
    double bound = gemv ? 1e-6 : 2e-5;
    if (c.format == FormatId::F32) bound = 1e-10;
    // Q4_1's block minimum adds m * sum(x) to d * sum(q * x), and the two largely cancel, so the
    // rounding of either (in another order on the GPU) weighs more in the result: 2.9e-6 measured on
    // an H100 (2026-12-07), with every other GEMV format under 1e-6.
    if (c.format == FormatId::Q4_1 && gemv) bound = 5e-6;
    if (c.format == FormatId::F16) bound = gemv ? 1e-10 : 2e-6;
    if (c.format == FormatId::BF16) bound = gemv ? 1e-10 : 1e-4;
    const double err = normalized_error(got, ref);
    EXPECT_LE(err, bound) << what;
    if (std::getenv("QUANTLAB_PARITY_VERBOSE")) std::printf("matmul %-28s nerr %.3g\n", what.c_str(), err);
    expect_repeatable("matmul " + what, run);
  }
}

TEST(CudaParity, Embed) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (FormatId f : kMatmulFormats) {
    const int64_t cols = format_traits(f).block_size == 256 ? 512 : 96, rows = 67;
    const auto wv = randoms(size_t(rows * cols), 7);
    const std::vector<uint8_t> bytes = encode(f, wv, rows, cols);
    const Tensor host_t = host_tensor(f, bytes.data(), rows, cols);
    const Tensor gt = bk.gpu->place(host_t);
    for (auto [ids, scale] : {std::pair<std::vector<int32_t>, float>{{5}, 1.0f}, {{0, 66, 3, 3, 17, 40, 1}, 2.5f}}) {
      Tensor oc = bk.cpu->alloc(FormatId::F32, int64_t(ids.size()), cols);
      bk.cpu->embed(host_t, ids, scale, oc);
      const std::vector<float> ref = back(*bk.cpu, oc);
      Tensor og = bk.gpu->alloc(FormatId::F32, int64_t(ids.size()), cols);
      bk.gpu->embed(gt, ids, scale, og);  // decoded on the GPU
      EXPECT_LE(normalized_error(back(*bk.gpu, og), ref), 1e-12) << name_of(f) << " " << ids.size();
      bk.gpu->embed(host_t, ids, scale, og);  // a host table: decoded on the host, uploaded
      EXPECT_EQ(back(*bk.gpu, og), ref) << name_of(f) << " host table " << ids.size();
    }
  }
}

TEST(CudaParity, RmsNorm) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  // rows x cols, group (the whole row, or one head for QK-norm)
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 4096, 4096}, {3, 1000, 1000}, {33, 100, 100},
                                                      {7, 14 * 128, 128}, {512, 6 * 64, 64}};
  for (auto [rows, cols, group] : shapes) {
    const auto xv = randoms(size_t(rows * cols), 11, 3.0f), wv = randoms(size_t(group), 12);
    Tensor xc = on(*bk.cpu, xv, rows, cols), wc = on(*bk.cpu, wv, 1, group), yc = bk.cpu->alloc(FormatId::F32, rows, cols);
    bk.cpu->rms_norm(xc, wc, 1e-6f, yc);
    const Tensor wg = on(*bk.gpu, wv, 1, group);
    auto run = [&] {
      Tensor xg = on(*bk.gpu, xv, rows, cols);
      bk.gpu->rms_norm(xg, wg, 1e-6f, xg);  // in place (y may be x)
      return back(*bk.gpu, xg);
    };
    EXPECT_LE(normalized_error(run(), back(*bk.cpu, yc)), 1e-10) << rows << "x" << cols << "/" << group;
    expect_repeatable("rms_norm", run);
  }
}

TEST(CudaParity, Elementwise) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  const int64_t rows = 7, cols = 1000;
  const auto av = randoms(rows * cols, 21, 4.0f), bv = randoms(rows * cols, 22, 4.0f), rv = randoms(cols, 23);
  struct Op {
    std::string name;
    double bound;
    std::function<void(Backend&, Tensor&, const Tensor&, const Tensor&)> fn;
  };
  const std::vector<Op> ops = {
      {"add", 0.0, [](Backend& b, Tensor& x, const Tensor& y, const Tensor&) { b.add(x, y); }},
      {"add_row", 0.0, [](Backend& b, Tensor& x, const Tensor&, const Tensor& r) { b.add_row(x, r); }},
      {"scale", 0.0, [](Backend& b, Tensor& x, const Tensor&, const Tensor&) { b.scale(x, 0.37f); }},
      {"softcap", 1e-10, [](Backend& b, Tensor& x, const Tensor&, const Tensor&) { b.softcap(x, 3.0f); }},
      {"silu", 1e-10, [](Backend& b, Tensor& x, const Tensor& y, const Tensor&) { b.gated_activation(FfnActivation::SiLU, x, y); }},
      {"gelu", 1e-12, [](Backend& b, Tensor& x, const Tensor& y, const Tensor&) { b.gated_activation(FfnActivation::GeluTanh, x, y); }},
  };
  for (const Op& op : ops) {
    auto run_on = [&](Backend& b) {
      Tensor x = on(b, av, rows, cols), y = on(b, bv, rows, cols), r = on(b, rv, 1, cols);
      op.fn(b, x, y, r);
      return back(b, x);
    };
    EXPECT_LE(normalized_error(run_on(*bk.gpu), run_on(*bk.cpu)), op.bound) << op.name;
    expect_repeatable(op.name, [&] { return run_on(*bk.gpu); });
  }
}

TEST(CudaParity, Rope) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  // 7 positions travel in the kernel's arguments, 40 through an upload.
  std::vector<int32_t> many = {0, 1, 2, 17, 4095, 100000, 7};
  for (int32_t i = 0; i < 33; ++i) many.push_back(3 * i + 1);
  for (const std::vector<int32_t>& positions : {std::vector<int32_t>(many.begin(), many.begin() + 7), many})
  for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX})
    for (int64_t head_dim : {64, 128})
      for (bool partial : {false, true}) {
        RopeParams p;
        p.style = style;
        p.n_rot = partial ? head_dim / 2 : head_dim;
        p.freq_base = partial ? 1000000.0f : 10000.0f;
        p.freq_scale = partial ? 0.25f : 1.0f;
        std::vector<float> factors(size_t(p.n_rot / 2));
        for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + float(i % 5);
        if (partial) p.freq_factors = factors.data();
        const int64_t rows = int64_t(positions.size()), cols = 6 * head_dim;
        const auto xv = randoms(size_t(rows * cols), 31);
        auto run_on = [&](Backend& b) {
          Tensor x = on(b, xv, rows, cols);
          b.rope(x, head_dim, p, positions);
          return back(b, x);
        };
        EXPECT_LE(normalized_error(run_on(*bk.gpu), run_on(*bk.cpu)), 1e-10)
            << (style == RopeStyle::NeoX ? "neox " : "normal ") << head_dim << (partial ? " partial" : "") << ", "
            << rows << " rows";
        expect_repeatable("rope", [&] { return run_on(*bk.gpu); });
      }
}

TEST(CudaParity, Attention) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  uint32_t seed = 100;
  for (const AttentionCase& c : attention_cases()) {
    AttentionShape s;
    s.n_head_kv = c.n_head_kv;
    s.n_head = c.n_head_kv * c.group;
    s.head_dim = c.head_dim;
    s.scale = 1.0f / std::sqrt(float(c.head_dim));
    s.window = c.window;
    int64_t total = 0;
    for (int64_t n : c.chunks) total += n;
    const int64_t q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
    auto kc = bk.cpu->make_kv_cache(2, total + 5, kv_dim);
    auto kg = bk.gpu->make_kv_cache(2, total + 5, kv_dim);
    auto kg2 = bk.gpu->make_kv_cache(2, total + 5, kv_dim);
    auto kx = bk.gpu->make_kv_cache(2, total + 5, kv_dim, KvStorage::Exact);
    int64_t pos = 0;
    for (int64_t n : c.chunks) {
      const std::string what = "kv heads " + std::to_string(c.n_head_kv) + " x group " + std::to_string(c.group) +
                               ", head_dim " + std::to_string(c.head_dim) + ", window " + std::to_string(c.window) +
                               ", " + std::to_string(n) + " tokens at " + std::to_string(pos);
      const auto qv = randoms(size_t(n * q_dim), seed++), kv = randoms(size_t(n * kv_dim), seed++),
                 vv = randoms(size_t(n * kv_dim), seed++);
      Tensor q = on(*bk.cpu, qv, n, q_dim), k = on(*bk.cpu, kv, n, kv_dim), v = on(*bk.cpu, vv, n, kv_dim);
      Tensor o = bk.cpu->alloc(FormatId::F32, n, q_dim);
      bk.cpu->attention(s, q, k, v, *kc, 1, pos, o);
      const std::vector<float> ref = back(*bk.cpu, o);
      auto run = [&](KvCache& cache) {
        Tensor qg = on(*bk.gpu, qv, n, q_dim), kg_ = on(*bk.gpu, kv, n, kv_dim), vg = on(*bk.gpu, vv, n, kv_dim);
        Tensor og = bk.gpu->alloc(FormatId::F32, n, q_dim);
        bk.gpu->attention(s, qg, kg_, vg, cache, 1, pos, og);
        return back(*bk.gpu, og);
      };
      const std::vector<float> got = run(*kg), again = run(*kg2), exact = run(*kx);
      const double err = normalized_error(got, ref), exact_err = normalized_error(exact, ref);
      EXPECT_LE(err, 2e-5) << what;
      // An f32 cache leaves only the order of f32 sums (online softmax, split keys) to differ.
      EXPECT_LE(exact_err, 5e-6) << what << ", f32 cache";
      if (std::getenv("QUANTLAB_PARITY_VERBOSE"))
        std::printf("attention %-60s nerr %.3g (f32 cache %.3g)\n", what.c_str(), err, exact_err);
      EXPECT_EQ(0, std::memcmp(got.data(), again.data(), got.size() * sizeof(float))) << what << ": two GPU runs differ";
      pos += n;
    }
  }
}

// Bandwidth of the decode GEMV against the device's own copy bandwidth (QUANTLAB_CUDA_BENCH=1).
// Σ (got - want)² / Σ want² over the upper triangle (i <= j) of two row-major n x n matrices.
double upper_triangle_error(const std::vector<double>& got, const std::vector<double>& want, int64_t n) {
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      const size_t at = size_t(i * n + j);
      err += (got[at] - want[at]) * (got[at] - want[at]);
      ref += want[at] * want[at];
    }
  return err / ref;
}

// Gram matrices of activations (GPTQ's Hessian sums): the GPU's double sums against the CPU's
// token-after-token ones, added over three calls of awkward token counts; the strict lower triangle
// stays as it was. Both sum exact products in double: only double rounding tells them apart.
TEST(CudaParity, GramAccumulate) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (int64_t n : {1, 67, 576}) {
    std::vector<double> start(size_t(n * n));
    for (size_t i = 0; i < start.size(); ++i) start[i] = double(i % 7) - 3.0;
    Tensor cpu_sum = bk.cpu->alloc(FormatId::F64, n, n), gpu_sum = bk.gpu->alloc(FormatId::F64, n, n);
    bk.cpu->from_host(start.data(), cpu_sum);
    bk.gpu->from_host(start.data(), gpu_sum);
    uint32_t seed = 40;
    for (int64_t tokens : {1, 37, 300}) {
      const std::vector<float> xv = randoms(size_t(tokens * n), seed++);
      const Tensor xc = on(*bk.cpu, xv, tokens, n), xg = on(*bk.gpu, xv, tokens, n);
      bk.cpu->gram_accumulate(xc, cpu_sum);
      bk.gpu->gram_accumulate(xg, gpu_sum);
    }
    std::vector<double> c(size_t(n * n)), g(size_t(n * n));
    bk.cpu->to_host(cpu_sum, c.data());
    bk.gpu->to_host(gpu_sum, g.data());
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const size_t at = size_t(i * n + j);
        if (j < i) {
          EXPECT_EQ(start[at], g[at]) << "lower triangle written at " << i << "," << j;
          continue;
        }
        err += (g[at] - c[at]) * (g[at] - c[at]);
        ref += c[at] * c[at];
      }
    EXPECT_LE(err / ref, 1e-26) << "n " << n;
  }
}

// An importance matrix's column moments: the CPU's bits (each column's terms in token order, in
// double), over calls of awkward token counts and a strided view.
TEST(CudaParity, ColumnMoments) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (int64_t n : {1, 67, 576}) {
    Tensor cpu_sums = bk.cpu->alloc(FormatId::F64, 2, n), gpu_sums = bk.gpu->alloc(FormatId::F64, 2, n);
    bk.cpu->zero(cpu_sums);
    bk.gpu->zero(gpu_sums);
    uint32_t seed = 60;
    for (int64_t tokens : {1, 37, 300}) {
      const std::vector<float> xv = randoms(size_t(tokens * n), seed++);
      bk.cpu->column_moments(on(*bk.cpu, xv, tokens, n), cpu_sums);
      bk.gpu->column_moments(on(*bk.gpu, xv, tokens, n), gpu_sums);
    }
    std::vector<double> c(size_t(2 * n)), g(size_t(2 * n));
    bk.cpu->to_host(cpu_sums, c.data());
    bk.gpu->to_host(gpu_sums, g.data());
    EXPECT_EQ(g, c) << "n " << n;
  }
}

// Gram sums with TF32 allowed (the calibration default): TF32 products of blocks of columns added
// to the double sums, within TF32's rounding (2^-11 to 2^-10 per input) of the exact double sums, the strict
// lower triangle left alone, the same bits run to run. 9000 inputs take two column blocks.
TEST(CudaParity, GramAccumulateTf32) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (int64_t n : {67, 576, 9000}) {
    const int64_t tokens = n > 1000 ? 40 : 300;
    const std::vector<float> xv = randoms(size_t(tokens * n), 77);
    auto run = [&](bool tf32) {
      bk.gpu->allow_tf32(tf32);
      Tensor sum = bk.gpu->alloc(FormatId::F64, n, n);
      bk.gpu->zero(sum);
      bk.gpu->gram_accumulate(on(*bk.gpu, xv, tokens, n), sum);
      bk.gpu->allow_tf32(false);
      std::vector<double> out(size_t(n * n));
      bk.gpu->to_host(sum, out.data());
      return out;
    };
    const std::vector<double> exact = run(false), fast = run(true), again = run(true);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) ASSERT_EQ(fast[size_t(i * n + j)], 0.0) << "lower triangle written at " << i << "," << j;
    const double err = upper_triangle_error(fast, exact, n);
    EXPECT_LE(err, 1e-5) << "n " << n;  // rms relative error ≤ 3e-3
    EXPECT_GT(err, 0.0) << "n " << n << ": TF32 products should round";
    EXPECT_EQ(fast, again) << "n " << n;
  }
}

// zero() clears every row of a tensor (a row range too) on both backends; the GPU's memory meter
// counts a new buffer and its peak never falls below what is held.
TEST(CudaParity, ZeroAndTheDeviceMemoryMeter) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  const std::vector<float> ones(size_t(300 * 77), 1.0f);
  const DeviceMemoryUse before = bk.gpu->memory_use();
  Tensor c = on(*bk.cpu, ones, 300, 77), g = on(*bk.gpu, ones, 300, 77);
  Tensor c_rows = c.row_range(10, 100), g_rows = g.row_range(10, 100);
  bk.cpu->zero(c_rows);
  bk.gpu->zero(g_rows);
  const std::vector<float> cv = back(*bk.cpu, c), gv = back(*bk.gpu, g);
  for (int64_t r = 0; r < 300; ++r)
    for (int64_t k = 0; k < 77; ++k) {
      const float want = r >= 10 && r < 110 ? 0.0f : 1.0f;
      ASSERT_EQ(cv[size_t(r * 77 + k)], want) << "cpu " << r << "," << k;
      ASSERT_EQ(gv[size_t(r * 77 + k)], want) << "gpu " << r << "," << k;
    }
  Tensor big = bk.gpu->alloc(FormatId::F32, 1 << 12, 1 << 12);  // 64 MiB: never from the pool's cache
  const DeviceMemoryUse after = bk.gpu->memory_use();
  EXPECT_GE(after.held, before.held + (size_t(64) << 20));
  EXPECT_GE(after.peak, after.held);
  EXPECT_GT(after.total, after.free);
  EXPECT_EQ(bk.cpu->memory_use().peak, 0u);
}

// Weight matrices that share an input, multiplied in one call (one kernel where their formats
// agree, several where they do not), give the bits of one matmul call each.
TEST(CudaParity, MatmulGroupGivesTheBitsOfSeparateCalls) {
  REQUIRE_GPU();
  Backend& g = *backends()->gpu;
  const int64_t cols = 512;
  const std::vector<std::vector<FormatId>> groups = {{FormatId::Q4_0, FormatId::Q4_0, FormatId::Q4_0},
                                                      {FormatId::Q4_K, FormatId::Q4_K, FormatId::Q6_K},
                                                      {FormatId::F16, FormatId::F16},
                                                      {FormatId::Q8_0, FormatId::F32}};
  const std::vector<int64_t> rows = {67, 256, 33};
  for (const auto& formats : groups) {
    for (int64_t n : {1, 3, 8, 19}) {
      std::vector<Tensor> ws, ys_group, ys_alone;
      uint32_t seed = 100;
      for (size_t i = 0; i < formats.size(); ++i) {
        const std::vector<uint8_t> bytes = encode(formats[i], randoms(size_t(rows[i] * cols), seed++, 0.05f), rows[i], cols);
        ws.push_back(g.place(host_tensor(formats[i], bytes.data(), rows[i], cols)));
        ys_group.push_back(g.alloc(FormatId::F32, n, rows[i]));
        ys_alone.push_back(g.alloc(FormatId::F32, n, rows[i]));
      }
      const std::vector<float> xv = randoms(size_t(n * cols), seed++);
      const Tensor x = on(g, xv, n, cols);
      std::vector<const Tensor*> wp;
      std::vector<Tensor*> yp;
      for (size_t i = 0; i < ws.size(); ++i) {
        wp.push_back(&ws[i]);
        yp.push_back(&ys_group[i]);
      }
      g.matmul_group(wp, x, yp);
      for (size_t i = 0; i < ws.size(); ++i) g.matmul(ws[i], x, ys_alone[i]);
      for (size_t i = 0; i < ws.size(); ++i) {
        const std::vector<float> a = back(g, ys_group[i]), b = back(g, ys_alone[i]);
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
            << name_of(formats[i]) << " matrix " << i << " of a group, " << n << " tokens";
      }
    }
  }
}

// A recorded decode step replayed at later positions gives, step after step, the bits of issuing
// the same ops one by one (positions move rope, the KV store and attention; a sliding window and
// GQA included), and declines to replay once a device buffer has been given back.
TEST(CudaParity, StepGraphReplaysGiveTheBitsOfOpByOp) {
  REQUIRE_GPU();
  Backend& g = *backends()->gpu;
  const int64_t E = 256, H = 4, Hkv = 2, D = 64, F = 320, V = 300, L = 2, steps = 40;
  auto weight = [&](FormatId f, int64_t rows, int64_t cols, uint32_t seed) {
    const std::vector<uint8_t> bytes = encode(f, randoms(size_t(rows * cols), seed, 0.05f), rows, cols);
    return g.place(host_tensor(f, bytes.data(), rows, cols));
  };
  const Tensor wq = weight(FormatId::Q4_0, H * D, E, 1), wk = weight(FormatId::Q8_0, Hkv * D, E, 2),
               wv = weight(FormatId::Q4_K, Hkv * D, E, 3), wo = weight(FormatId::F16, E, H * D, 4),
               wg = weight(FormatId::Q6_K, F, E, 5), wu = weight(FormatId::Q5_0, F, E, 6),
               wd = weight(FormatId::F32, E, F, 7), out = weight(FormatId::Q4_1, V, E, 8);
  const std::vector<float> norm_host = randoms(size_t(E), 9, 1.0f), head_norm_host = randoms(size_t(D), 10, 1.0f);
  const Tensor norm = on(g, norm_host, 1, E), head_norm = on(g, head_norm_host, 1, D);
  AttentionShape s;
  s.n_head = H;
  s.n_head_kv = Hkv;
  s.head_dim = D;
  s.scale = 1.0f / std::sqrt(float(D));
  RopeParams rp;
  rp.n_rot = D;
  rp.style = RopeStyle::NeoX;
  const std::vector<float> inputs = randoms(size_t(steps * E), 11);

  // Runs `steps` decode steps from fresh buffers and a fresh cache; returns every step's logits.
  auto run = [&](bool graphed) {
    auto cache = g.make_kv_cache(L, 64, Hkv * D);
    Tensor x = g.alloc(FormatId::F32, 1, E), h = g.alloc(FormatId::F32, 1, E), q = g.alloc(FormatId::F32, 1, H * D),
           k = g.alloc(FormatId::F32, 1, Hkv * D), v = g.alloc(FormatId::F32, 1, Hkv * D),
           a = g.alloc(FormatId::F32, 1, H * D), gate = g.alloc(FormatId::F32, 1, F), up = g.alloc(FormatId::F32, 1, F),
           logits = g.alloc(FormatId::F32, 1, V);
    int32_t at = 0;
    auto ops = [&] {
      const int32_t positions[1] = {at};
      for (int64_t l = 0; l < L; ++l) {
        AttentionShape sl = s;
        sl.window = l == 1 ? 16 : 0;
        g.rms_norm(x, norm, 1e-5f, h);
        const Tensor* qkv_w[] = {&wq, &wk, &wv};
        Tensor* qkv[] = {&q, &k, &v};
        g.matmul_group(qkv_w, h, qkv);
        g.rms_norm(q, head_norm, 1e-6f, q);
        g.rope(q, D, rp, positions);
        g.rope(k, D, rp, positions);
        g.attention(sl, q, k, v, *cache, l, at, a);
        g.matmul(wo, a, h);
        g.add(x, h);
        g.rms_norm(x, norm, 1e-5f, h);
        g.matmul(wg, h, gate);
        g.matmul(wu, h, up);
        g.gated_activation(FfnActivation::SiLU, gate, up);
        g.matmul(wd, gate, h);
        g.add(x, h);
      }
      g.rms_norm(x, norm, 1e-5f, h);
      g.matmul(out, h, logits);
    };
    std::unique_ptr<StepGraph> graph;
    int recordings = 0;
    std::vector<float> all;
    for (int32_t p = 0; p < int32_t(steps); ++p) {
      g.from_host(inputs.data() + size_t(p) * size_t(E), x);
      at = p;
      if (!graphed) ops();
      else if (!(graph && graph->replay(p))) {
        graph = g.run_and_record(p, ops);
        ++recordings;
      }
      const std::vector<float> l = back(g, logits);
      all.insert(all.end(), l.begin(), l.end());
    }
    if (graphed) {
      EXPECT_TRUE(graph != nullptr) << "the CUDA backend records decode steps";
      EXPECT_EQ(1, recordings) << "one recording serves every position";
      { Tensor dropped = g.alloc(FormatId::F32, 1, 1); }
      EXPECT_FALSE(graph->replay(steps)) << "a buffer was given back: the recording may hold it";
    }
    return all;
  };
  const std::vector<float> op_by_op = run(false), replayed = run(true);
  ASSERT_EQ(op_by_op.size(), replayed.size());
  EXPECT_EQ(0, std::memcmp(op_by_op.data(), replayed.data(), op_by_op.size() * sizeof(float)))
      << "replayed steps differ from the same ops issued one by one";
}

// A symmetric positive definite n x n Hessian-like matrix: XᵀX / tokens of correlated inputs, plus
// a little of the identity.
std::vector<double> spd_matrix(int64_t n, uint32_t seed) {
  const int64_t tokens = 2 * n + 8;
  const std::vector<float> z = randoms(size_t(tokens * n), seed);
  std::vector<double> x(z.begin(), z.end());
  for (int64_t t = 0; t < tokens; ++t)  // neighbouring inputs correlated, as a layer's are
    for (int64_t i = 1; i < n; ++i) x[size_t(t * n + i)] += 0.7 * x[size_t(t * n + i - 1)];
  std::vector<double> h(size_t(n * n), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[size_t(i * n + j)] += x[size_t(t * n + i)] * x[size_t(t * n + j)] / double(tokens);
  for (int64_t i = 0; i < n; ++i) h[size_t(i * n + i)] += 0.01;
  return h;
}

// GPTQ's factor: cuSOLVER's U against the CPU's (the same unique factor up to rounding), the
// lower triangle cleared on both, an indefinite matrix refused on both.
// GPTQ's Hessian in processing order (one product per value) and its diagonal: the CPU's bits.
TEST(CudaParity, GptqHessianInOrder) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  const int64_t n = 300;
  std::vector<double> sums = spd_matrix(n, 11), diag(static_cast<size_t>(n)), cpu(size_t(n * n)), gpu(size_t(n * n));
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = (i * 7 + 3) % n, diag[size_t(i)] = 1.0 + double(i);
  Tensor c = host_tensor(FormatId::F64, cpu.data(), n, n);
  bk.cpu->hessian_in_order(host_tensor(FormatId::F64, sums.data(), n, n), 2.0 / 3.0, perm, diag, c);
  Tensor gs = bk.gpu->place(host_tensor(FormatId::F64, sums.data(), n, n)), g = bk.gpu->alloc(FormatId::F64, n, n);
  bk.gpu->hessian_in_order(gs, 2.0 / 3.0, perm, diag, g);
  bk.gpu->to_host(g, gpu.data());
  EXPECT_EQ(gpu, cpu);
  std::vector<double> dc(static_cast<size_t>(n)), dg(static_cast<size_t>(n));
  bk.cpu->read_diagonal(host_tensor(FormatId::F64, sums.data(), n, n), dc);
  bk.gpu->read_diagonal(gs, dg);
  EXPECT_EQ(dg, dc);
}

TEST(CudaParity, GptqFactor) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (int64_t n : {1, 67, 300, 1100}) {
    std::vector<double> cpu = spd_matrix(n, uint32_t(70 + n)), gpu_result(size_t(n * n));
    Tensor g = bk.gpu->place(host_tensor(FormatId::F64, cpu.data(), n, n));
    Tensor c = host_tensor(FormatId::F64, cpu.data(), n, n);
    ASSERT_TRUE(bk.gpu->inverse_upper_cholesky(g)) << n;
    ASSERT_TRUE(bk.cpu->inverse_upper_cholesky(c)) << n;
    bk.gpu->to_host(g, gpu_result.data());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) ASSERT_EQ(gpu_result[size_t(i * n + j)], 0.0) << "lower triangle at " << i << "," << j;
    EXPECT_LE(upper_triangle_error(gpu_result, cpu, n), 1e-20) << "n " << n;
  }
  std::vector<double> indefinite = spd_matrix(40, 3);
  indefinite[size_t(17 * 40 + 17)] = -1.0;
  Tensor g = bk.gpu->place(host_tensor(FormatId::F64, indefinite.data(), 40, 40));
  Tensor c = host_tensor(FormatId::F64, indefinite.data(), 40, 40);
  EXPECT_FALSE(bk.gpu->inverse_upper_cholesky(g));
  EXPECT_FALSE(bk.cpu->inverse_upper_cholesky(c));
}

// GPTQ's lazy update on views of U's columns, f64 rounded to f32 and f32, against the CPU's.
TEST(CudaParity, GptqLazyUpdate) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  for (FormatId af : {FormatId::F64, FormatId::F32})
    for (auto [k, m, n] : {std::array<int64_t, 3>{1, 1, 1}, {20, 50, 70}, {128, 1000, 576}}) {
      const int64_t width = m + 30, first = 30;
      const std::vector<float> a32 = randoms(size_t(k * width), 90), b = randoms(size_t(k * n), 91),
                               c0 = randoms(size_t(m * n), 92);
      const std::vector<double> a64(a32.begin(), a32.end());
      const void* a = af == FormatId::F64 ? static_cast<const void*>(a64.data()) : a32.data();
      auto run_on = [&](Backend& be) {
        std::vector<float> out = c0;
        Tensor at = be.place(host_tensor(af, a, k, width)).columns(first, m);
        Tensor bt = be.place(host_tensor(FormatId::F32, b.data(), k, n));
        Tensor ct = be.place(host_tensor(FormatId::F32, out.data(), m, n));
        be.subtract_transposed_product(at, bt, ct);
        be.to_host(ct, out.data());
        return out;
      };
      const std::string what = name_of(af) + " " + std::to_string(k) + "x" + std::to_string(m) + "x" + std::to_string(n);
      EXPECT_LE(normalized_error(run_on(*bk.gpu), run_on(*bk.cpu)), 1e-12) << what;
      expect_repeatable(what, [&] { return run_on(*bk.gpu); });
    }
}

// GPTQ with the factor, the lazy updates and (integer grids) the column sweep on the GPU: nearly
// every code as on the CPU (a value close to a rounding boundary may go the other way), GPTQ's loss
// within 0.1 %, and the same bits from two GPU runs. Integer groups fitted as the sweep goes (with
// and without act-order, a group narrower and one wider than the lazy block, a ragged last group),
// static groups, symmetric and AutoAWQ's rule, 3 bits; and a GGUF K grid (swept on the host).
TEST(CudaParity, GptqOnTheGpu) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  const int64_t rows = 96, cols = 768;
  const std::vector<float> w = randoms(size_t(rows * cols), 95);
  const std::vector<double> h = spd_matrix(cols, 96);
  struct Case {
    bool act_order, static_groups, symmetric;
    int64_t group_size, block_size;
    int bits;
    IntGridRule rule;
  };
  for (const Case& k : {Case{false, false, false, 64, 128, 4, IntGridRule::AutoGptq},
                        Case{true, false, false, 64, 128, 4, IntGridRule::AutoGptq},
                        Case{true, false, false, 256, 128, 4, IntGridRule::AutoGptq},
                        Case{false, false, false, 200, 96, 3, IntGridRule::AutoGptq},
                        Case{true, true, false, 128, 128, 4, IntGridRule::AutoGptq},
                        Case{false, false, true, 128, 128, 4, IntGridRule::AutoGptq},
                        Case{true, false, false, 128, 128, 4, IntGridRule::AwqMinMax},
                        Case{false, false, false, 0, 128, 8, IntGridRule::AutoGptq}}) {
    GptqOptions opt;
    opt.act_order = k.act_order, opt.static_groups = k.static_groups, opt.block_size = k.block_size;
    IntGridSpec grid;
    grid.bits = k.bits, grid.group_size = k.group_size, grid.symmetric = k.symmetric, grid.rule = k.rule;
    const std::string what = "act_order " + std::to_string(k.act_order) + " static " + std::to_string(k.static_groups) +
                             " symmetric " + std::to_string(k.symmetric) + " group " + std::to_string(k.group_size) +
                             " block " + std::to_string(k.block_size) + " bits " + std::to_string(k.bits);
    GptqReport rc, rg, rg2;
    const IntQuantizedMatrix c = gptq_quantize(w.data(), rows, cols, h, grid, opt, &rc, bk.cpu.get());
    const IntQuantizedMatrix g = gptq_quantize(w.data(), rows, cols, h, grid, opt, &rg, bk.gpu.get());
    const IntQuantizedMatrix g2 = gptq_quantize(w.data(), rows, cols, h, grid, opt, &rg2, bk.gpu.get());
    size_t same = 0;
    for (size_t i = 0; i < c.codes.size(); ++i) same += c.codes[i] == g.codes[i];
    EXPECT_GE(double(same) / double(c.codes.size()), 0.99) << what;
    EXPECT_NEAR(rg.loss, rc.loss, 1e-3 * rc.loss) << what;
    EXPECT_EQ(g.g_idx, c.g_idx) << what;
    double scale_err = 0, scale_ref = 0;
    for (size_t i = 0; i < c.params.size(); ++i) {
      scale_err += std::abs(double(g.params[i].scale) - c.params[i].scale);
      scale_ref += std::abs(double(c.params[i].scale));
    }
    EXPECT_LE(scale_err, 1e-2 * scale_ref) << what;
    EXPECT_EQ(g.codes, g2.codes) << "two GPU runs, " << what;
    EXPECT_EQ(rg.loss, rg2.loss) << what;
  }
  // A diagonal Hessian leaves nothing to the lazy updates (U's off-diagonal is zero): the device
  // sweep then gives the host's codes and parameters bit for bit.
  std::vector<double> diagonal(size_t(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i) diagonal[size_t(i * cols + i)] = 1.0 + double(i % 13);
  for (bool act_order : {false, true}) {
    GptqOptions opt;
    opt.act_order = act_order;
    IntGridSpec grid;
    grid.bits = 4, grid.group_size = 128;
    const IntQuantizedMatrix c = gptq_quantize(w.data(), rows, cols, diagonal, grid, opt, nullptr, bk.cpu.get());
    const IntQuantizedMatrix g = gptq_quantize(w.data(), rows, cols, diagonal, grid, opt, nullptr, bk.gpu.get());
    EXPECT_EQ(g.codes, c.codes) << "diagonal H, act_order " << act_order;
    for (size_t i = 0; i < c.params.size(); ++i) {
      ASSERT_EQ(g.params[i].scale, c.params[i].scale) << "diagonal H, group " << i;
      ASSERT_EQ(g.params[i].zero, c.params[i].zero) << "diagonal H, group " << i;
    }
  }
  GptqOptions opt;
  GptqReport rc, rg;
  const GgufBlockMatrix c = gptq_quantize_gguf(w.data(), rows, cols, h, FormatId::Q4_K, opt, &rc, bk.cpu.get());
  const GgufBlockMatrix g = gptq_quantize_gguf(w.data(), rows, cols, h, FormatId::Q4_K, opt, &rg, bk.gpu.get());
  size_t same = 0;
  for (size_t i = 0; i < c.dequantized.size(); ++i) same += c.dequantized[i] == g.dequantized[i];
  EXPECT_GE(double(same) / double(c.dequantized.size()), 0.98);
  EXPECT_NEAR(rg.loss, rc.loss, 1e-3 * rc.loss);
}

// AWQ's searches on the GPU: Σ|x| per column and each candidate's Q(W·s)/s - W with the CPU's bits
// (quant/awq_math.hpp is shared), the output error's reduction within double rounding and the same
// bits run to run, the whole scale search (exact f32 products) choosing the CPU's ratio, and the
// clipping giving the CPU's weights.
TEST(CudaParity, AwqSearch) {
  REQUIRE_GPU();
  Backends& bk = *backends();
  bk.gpu->allow_tf32(false);
  const int64_t cols = 200, tokens = 500;
  const std::vector<float> xv = randoms(size_t(tokens * cols), 90);
  {
    Tensor c = bk.cpu->alloc(FormatId::F64, 1, cols), g = bk.gpu->alloc(FormatId::F64, 1, cols);
    bk.cpu->zero(c);
    bk.gpu->zero(g);
    bk.cpu->column_abs_sums(on(*bk.cpu, xv, tokens, cols), c);
    bk.gpu->column_abs_sums(on(*bk.gpu, xv, tokens, cols), g);
    std::vector<double> cv(static_cast<size_t>(cols)), gv(static_cast<size_t>(cols));
    bk.cpu->to_host(c, cv.data());
    bk.gpu->to_host(g, gv.data());
    EXPECT_EQ(gv, cv) << "column_abs_sums";
  }
  const int64_t rows = 37;
  const std::vector<float> wv = randoms(size_t(rows * cols), 91, 0.05f);
  std::vector<float> sv = randoms(size_t(cols), 92);
  for (float& s : sv) s = 0.2f + 2.0f * std::fabs(s);
  const IntGroupGrid grids[] = {{15, false, IntGridRule::AwqMinMax, 64},  // a ragged last group of 8
                                {7, false, IntGridRule::AutoGptq, 32},
                                {255, true, IntGridRule::AutoGptq, 200}};
  for (const IntGroupGrid& grid : grids) {
    Tensor dc = bk.cpu->alloc(FormatId::F32, rows, cols), dg = bk.gpu->alloc(FormatId::F32, rows, cols);
    bk.cpu->awq_scaled_delta(on(*bk.cpu, wv, rows, cols), on(*bk.cpu, sv, 1, cols), grid, dc);
    bk.gpu->awq_scaled_delta(on(*bk.gpu, wv, rows, cols), on(*bk.gpu, sv, 1, cols), grid, dg);
    const std::vector<float> c = back(*bk.cpu, dc), g = back(*bk.gpu, dg);
    EXPECT_EQ(0, std::memcmp(c.data(), g.data(), c.size() * sizeof(float)))
        << "awq_scaled_delta, groups of " << grid.group_size << ", max code " << grid.max_code;
  }
  {
    const std::vector<float> a = randoms(300 * 1000, 93), b = randoms(300 * 1000, 94);
    const double c = bk.cpu->sum_of_products(on(*bk.cpu, a, 300, 1000), on(*bk.cpu, b, 300, 1000), 1.5);
    const Tensor ga = on(*bk.gpu, a, 300, 1000), gb = on(*bk.gpu, b, 300, 1000);
    const double g1 = bk.gpu->sum_of_products(ga, gb, 1.5), g2 = bk.gpu->sum_of_products(ga, gb, 1.5);
    EXPECT_EQ(g1, g2) << "sum_of_products: two GPU runs differ";
    EXPECT_NEAR(g1, c, 1e-12 * std::fabs(c) + 1e-12) << "sum_of_products";
  }
  // The whole search: G and mean |x| of the tokens above, two linears sharing the input.
  AwqInputStats stats;
  stats.cols = cols;
  stats.abs_mean.assign(size_t(cols), 0.0f);
  stats.moments.assign(size_t(cols * cols), 0.0f);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < cols; ++i) {
      const float xi = xv[size_t(t * cols + i)];
      stats.abs_mean[size_t(i)] += std::fabs(xi) / float(tokens);
      for (int64_t j = 0; j < cols; ++j) stats.moments[size_t(i * cols + j)] += xi * xv[size_t(t * cols + j)] / float(tokens);
    }
  std::vector<float> w1 = randoms(size_t(48 * cols), 95, 0.05f), w2 = randoms(size_t(32 * cols), 96, 0.05f);
  IntGridSpec spec;
  spec.group_size = 64;
  spec.rule = IntGridRule::AwqMinMax;
  const std::vector<AwqLinear> linears = {{w1.data(), 48}, {w2.data(), 32}};
  const AwqScaleResult c = awq_search_scales(*bk.cpu, stats, linears, spec, {});
  const AwqScaleResult g = awq_search_scales(*bk.gpu, stats, linears, spec, {});
  EXPECT_EQ(g.ratio, c.ratio);
  EXPECT_NEAR(g.loss, c.loss, 1e-5 * c.loss);
  EXPECT_EQ(g.scales, c.scales);
  // Clipping: the CPU's thresholds bit for bit (the same operations in the same order), groups of
  // 64 with a ragged last one and one group per row.
  for (int64_t group : {int64_t(64), cols}) {
    spec.group_size = group;
    Tensor wc = on(*bk.cpu, w1, 48, cols), wg = on(*bk.gpu, w1, 48, cols);
    awq_clip(*bk.cpu, wc, host_tensor(FormatId::F32, stats.moments.data(), cols, cols), spec, {});
    awq_clip(*bk.gpu, wg, on(*bk.gpu, stats.moments, cols, cols), spec, {});
    const std::vector<float> cc = back(*bk.cpu, wc), gc = back(*bk.gpu, wg);
    EXPECT_EQ(0, std::memcmp(cc.data(), gc.data(), cc.size() * sizeof(float))) << "awq_clip, groups of " << group;
  }
}

TEST(CudaBench, GemvBandwidth) {
  if (!std::getenv("QUANTLAB_CUDA_BENCH")) QUANTLAB_SKIP() << "set QUANTLAB_CUDA_BENCH=1 to measure";
  REQUIRE_GPU();
  Backends& bk = *backends();
  auto seconds = [&](int iters, const std::function<void()>& fn) {
    fn();
    bk.gpu->synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fn();
    bk.gpu->synchronize();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  };
#if QUANTLAB_HAVE_CUDA
  {
    const size_t bytes = size_t(1) << 30;
    void *a = nullptr, *b = nullptr;
    ASSERT_EQ(cudaSuccess, cudaMalloc(&a, bytes));
    ASSERT_EQ(cudaSuccess, cudaMalloc(&b, bytes));
    const double s = seconds(20, [&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, nullptr); cudaStreamSynchronize(nullptr); });
    std::printf("bench %s: device-to-device copy %.0f GB/s (read + write)\n", bk.gpu->describe().c_str(), 2.0 * bytes / s / 1e9);
    cudaFree(a);
    cudaFree(b);
  }
#endif
  for (FormatId f : {FormatId::Q4_0, FormatId::Q4_K, FormatId::Q8_0, FormatId::Q6_K, FormatId::F16})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{11008, 4096}, {4096, 11008}}) {
      const auto wv = randoms(size_t(rows * cols), 5, 0.05f);
      const std::vector<uint8_t> bytes = encode(f, wv, rows, cols);
      const Tensor w = bk.gpu->place(host_tensor(f, bytes.data(), rows, cols));
      for (int64_t tokens : {1, 8, 512}) {
        Tensor x = on(*bk.gpu, randoms(size_t(tokens * cols), 6), tokens, cols);
        Tensor y = bk.gpu->alloc(FormatId::F32, tokens, rows);
        const double s = seconds(tokens == 512 ? 20 : 200, [&] { bk.gpu->matmul(w, x, y); });
        std::printf("bench %-5s %5lld x %5lld, %3lld tokens: %8.1f us  %7.0f GB/s of weights  %7.1f TFLOP/s\n",
                    name_of(f).c_str(), (long long)rows, (long long)cols, (long long)tokens, s * 1e6,
                    double(bytes.size()) / s / 1e9, 2.0 * double(rows * cols * tokens) / s / 1e12);
      }
    }
}

// Tokens per second of a Llama-2-7B-shaped decode step (32 layers, 4096 wide, 32 heads of 128,
// FFN 11008, vocab 32000) made of backend ops, weights in one format (QUANTLAB_CUDA_BENCH=1). One
// layer's weights serve all 32 layers: each layer's ~100-200 MB is far over the 50 MB L2, so every
// layer still reads its weights from device memory. No CUDA graph: every op is its own launch.
TEST(CudaBench, DecodeStep7B) {
  if (!std::getenv("QUANTLAB_CUDA_BENCH")) QUANTLAB_SKIP() << "set QUANTLAB_CUDA_BENCH=1 to measure";
  REQUIRE_GPU();
  Backend& g = *backends()->gpu;
  const int64_t E = 4096, H = 32, D = 128, F = 11008, V = 32000, L = 32, steps = 128;
  for (FormatId f : {FormatId::Q4_0, FormatId::Q4_K, FormatId::Q8_0}) {
    // Rows of one encoded random row repeated (valid blocks; the bytes' values do not change the time).
    auto weight = [&](int64_t rows, int64_t cols, uint32_t seed) {
      const std::vector<uint8_t> row = encode(f, randoms(size_t(cols), seed, 0.02f), 1, cols);
      std::vector<uint8_t> all(row.size() * size_t(rows));
      for (int64_t r = 0; r < rows; ++r) std::memcpy(all.data() + size_t(r) * row.size(), row.data(), row.size());
      return g.place(host_tensor(f, all.data(), rows, cols));
    };
    const Tensor wq = weight(E, E, 1), wk = weight(E, E, 2), wv = weight(E, E, 3), wo = weight(E, E, 4);
    const Tensor wg = weight(F, E, 5), wu = weight(F, E, 6), wd = weight(E, F, 7), out = weight(V, E, 8);
    const double bytes_per_token =
        double(L) * double(4 * row_bytes(f, E) * E + 2 * row_bytes(f, E) * F + row_bytes(f, F) * E) +
        double(row_bytes(f, E) * V);
    const Tensor norm = on(g, std::vector<float>(size_t(E), 1.0f), 1, E);
    auto cache = g.make_kv_cache(L, steps, E);
    Tensor x = g.alloc(FormatId::F32, 1, E), h = g.alloc(FormatId::F32, 1, E), q = g.alloc(FormatId::F32, 1, E),
           k = g.alloc(FormatId::F32, 1, E), v = g.alloc(FormatId::F32, 1, E), a = g.alloc(FormatId::F32, 1, E),
           gate = g.alloc(FormatId::F32, 1, F), up = g.alloc(FormatId::F32, 1, F), logits = g.alloc(FormatId::F32, 1, V);
    AttentionShape s;
    s.n_head = H;
    s.n_head_kv = H;
    s.head_dim = D;
    s.scale = 1.0f / std::sqrt(float(D));
    RopeParams rp;
    rp.n_rot = D;
    const std::vector<float> x0 = randoms(size_t(E), 9);
    std::vector<float> host_logits(static_cast<size_t>(V));
    // One decode step: the input row uploaded, the layers and the logits (recordable), read back.
    int32_t at = 0;
    auto layers = [&] {
      const int32_t positions[1] = {at};
      for (int64_t l = 0; l < L; ++l) {
        g.rms_norm(x, norm, 1e-5f, h);
        const Tensor* qkv_w[] = {&wq, &wk, &wv};
        Tensor* qkv[] = {&q, &k, &v};
        g.matmul_group(qkv_w, h, qkv);
        g.rope(q, D, rp, positions);
        g.rope(k, D, rp, positions);
        g.attention(s, q, k, v, *cache, l, at, a);
        g.matmul(wo, a, h);
        g.add(x, h);
        g.rms_norm(x, norm, 1e-5f, h);
        const Tensor* gate_up_w[] = {&wg, &wu};
        Tensor* gate_up[] = {&gate, &up};
        g.matmul_group(gate_up_w, h, gate_up);
        g.gated_activation(FfnActivation::SiLU, gate, up);
        g.matmul(wd, gate, h);
        g.add(x, h);
      }
      g.rms_norm(x, norm, 1e-5f, h);
      g.matmul(out, h, logits);
    };
    // Where a step's time goes: each op of a layer replayed 200 times from one recording (GPU time
    // without launch gaps beyond a graph's own), at position 100.
    {
      at = 100;
      const int32_t positions[1] = {at};
      const Tensor* qkv_w[] = {&wq, &wk, &wv};
      Tensor* qkv[] = {&q, &k, &v};
      const Tensor* gate_up_w[] = {&wg, &wu};
      Tensor* gate_up[] = {&gate, &up};
      const std::vector<std::pair<const char*, std::function<void()>>> ops = {
          {"rms_norm", [&] { g.rms_norm(x, norm, 1e-5f, h); }},
          {"qkv", [&] { g.matmul_group(qkv_w, h, qkv); }},
          {"rope q", [&] { g.rope(q, D, rp, positions); }},
          {"attention", [&] { g.attention(s, q, k, v, *cache, 0, at, a); }},
          {"wo", [&] { g.matmul(wo, a, h); }},
          {"add", [&] { g.add(x, h); }},
          {"gate+up", [&] { g.matmul_group(gate_up_w, h, gate_up); }},
          {"swiglu", [&] { g.gated_activation(FfnActivation::SiLU, gate, up); }},
          {"down", [&] { g.matmul(wd, gate, h); }},
          {"output", [&] { g.matmul(out, h, logits); }}};
      std::string line;
      for (const auto& [name, op] : ops) {
        auto repeated = [&] {
          for (int i = 0; i < 200; ++i) op();
        };
        std::unique_ptr<StepGraph> graph = g.run_and_record(at, repeated);
        g.synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        if (graph) graph->replay(at);
        else repeated();
        g.synchronize();
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 200;
        char part[64];
        std::snprintf(part, sizeof part, " %s %.1f", name, us);
        line += part;
      }
      std::printf("bench %s: 7B-shaped decode ops %s, us per call:%s\n", g.describe().c_str(), name_of(f).c_str(),
                  line.c_str());
    }
    for (const bool graphed : {false, true}) {
      std::unique_ptr<StepGraph> graph;
      auto step = [&](int32_t pos) {
        g.from_host(x0.data(), x);
        at = pos;
        if (!graphed) layers();
        else if (!(graph && graph->replay(pos))) graph = g.run_and_record(pos, layers);
        g.to_host(logits, host_logits.data());
      };
      step(0);  // warm-up (also fills position 0 again below)
      const auto t0 = std::chrono::steady_clock::now();
      for (int32_t p = 0; p < steps; ++p) step(p);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double tps = double(steps) / sec;
      std::printf("bench %s: 7B-shaped decode (tg%lld) %-5s %-12s %7.1f tokens/s, %.2f GB of weights per token, %6.0f GB/s\n",
                  g.describe().c_str(), (long long)steps, name_of(f).c_str(), graphed ? "step graph" : "op by op", tps,
                  bytes_per_token / 1e9, bytes_per_token * tps / 1e9);
    }
  }
}

}  // namespace
}  // namespace quantlab
