#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/quant/gptq.hpp"
#include "quantlab/quant/gptq_gguf.hpp"
#include "quantlab/quant/hessian.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace quantlab;

namespace {

struct Problem {
  int64_t rows, cols, tokens;
  std::vector<float> w, x;  // w [rows, cols], x [tokens, cols]
};

// Correlated inputs (a few shared latent factors + per-channel scale spread) as real activations
// have, so that error feedback has something to exploit.
Problem make_problem(int64_t rows, int64_t cols, int64_t tokens, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n01(0, 1);
  Problem p{rows, cols, tokens, std::vector<float>(size_t(rows * cols)), std::vector<float>(size_t(tokens * cols))};
  for (auto& v : p.w) v = n01(rng) * 0.05f;
  const int k = 8;
  std::vector<float> mix(static_cast<size_t>(k * cols)), chan(static_cast<size_t>(cols));
  for (auto& v : mix) v = n01(rng);
  for (auto& v : chan) v = std::exp(n01(rng));
  for (int64_t t = 0; t < tokens; ++t) {
    float z[k];
    for (auto& v : z) v = n01(rng);
    for (int64_t c = 0; c < cols; ++c) {
      float s = 0.3f * n01(rng);
      for (int j = 0; j < k; ++j) s += z[j] * mix[size_t(j * cols + c)];
      p.x[size_t(t * cols + c)] = s * chan[size_t(c)];
    }
  }
  return p;
}

double output_error(const Problem& p, const std::vector<float>& q) {
  double e = 0;
  for (int64_t t = 0; t < p.tokens; ++t)
    for (int64_t r = 0; r < p.rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < p.cols; ++c)
        s += double(p.x[size_t(t * p.cols + c)]) * (p.w[size_t(r * p.cols + c)] - q[size_t(r * p.cols + c)]);
      e += s * s;
    }
  return e;
}

std::vector<double> hessian_of(const Problem& p) {
  HessianAccumulator acc(p.cols);
  acc.add(p.x.data(), p.tokens);
  return acc.take_hessian();
}

}  // namespace

TEST(Hessian, MatchesNaiveSum) {
  const auto p = make_problem(4, 24, 300, 1);
  const auto h = hessian_of(p);
  for (int64_t i = 0; i < p.cols; ++i)
    for (int64_t j = 0; j < p.cols; ++j) {
      double s = 0;
      for (int64_t t = 0; t < p.tokens; ++t) s += double(p.x[size_t(t * p.cols + i)]) * p.x[size_t(t * p.cols + j)];
      EXPECT_NEAR(h[size_t(i * p.cols + j)], 2 * s / double(p.tokens), 1e-4 * (1 + std::abs(s))) << i << "," << j;
    }
}

TEST(Gptq, IdentityHessianEqualsRtn) {
  const auto p = make_problem(16, 256, 1, 2);
  std::vector<double> h(size_t(p.cols * p.cols), 0.0);
  for (int64_t i = 0; i < p.cols; ++i) h[size_t(i * p.cols + i)] = 1.0;
  for (int bits : {2, 3, 4, 8})
    for (bool sym : {false, true}) {
      IntGridSpec spec{bits, 64, sym};
      const auto g = gptq_quantize(p.w.data(), p.rows, p.cols, h, spec, {});
      const auto r = quantize_rtn(p.w.data(), p.rows, p.cols, spec);
      EXPECT_EQ(g.codes, r.codes) << bits << sym;
      EXPECT_EQ(g.g_idx, r.g_idx);
    }
}

TEST(Gptq, BeatsRtnOnCorrelatedInputs) {
  const auto p = make_problem(32, 256, 2048, 3);
  const auto h = hessian_of(p);
  for (int bits : {3, 4}) {
    IntGridSpec spec{bits, 128, false};
    const double rtn = output_error(p, quantize_rtn(p.w.data(), p.rows, p.cols, spec).dequantize());
    const double gptq = output_error(p, gptq_quantize(p.w.data(), p.rows, p.cols, h, spec, {}).dequantize());
    GptqOptions ao;
    ao.act_order = true;
    const auto qa = gptq_quantize(p.w.data(), p.rows, p.cols, h, spec, ao);
    const double gptq_ao = output_error(p, qa.dequantize());
    EXPECT_LT(gptq, 0.7 * rtn) << "bits " << bits;
    EXPECT_LT(gptq_ao, 0.7 * rtn) << "bits " << bits;
    // act-order groups follow processing order: every group index is used by exactly 128 columns
    std::vector<int> count(size_t(qa.n_groups), 0);
    for (auto g : qa.g_idx) ++count[size_t(g)];
    for (int c : count) EXPECT_EQ(c, 128);
  }
}

TEST(Gptq, BlockSizeDoesNotChangeTheResultMuch) {
  // Lazy batching is an exact reordering of the same updates; only float rounding differs.
  const auto p = make_problem(16, 384, 1024, 4);
  const auto h = hessian_of(p);
  IntGridSpec spec{4, 128, false};
  GptqOptions a, b;
  a.block_size = 128;
  b.block_size = 1;
  const auto qa = gptq_quantize(p.w.data(), p.rows, p.cols, h, spec, a);
  const auto qb = gptq_quantize(p.w.data(), p.rows, p.cols, h, spec, b);
  size_t same = 0;
  for (size_t i = 0; i < qa.codes.size(); ++i) same += qa.codes[i] == qb.codes[i];
  EXPECT_GT(double(same) / double(qa.codes.size()), 0.995);
}

TEST(Gptq, DeadInputsAndSingularHessian) {
  auto p = make_problem(8, 128, 16, 5);  // 16 tokens < 128 inputs: H is singular
  for (int64_t t = 0; t < p.tokens; ++t) p.x[size_t(t * p.cols + 7)] = 0;  // input 7 never fires
  auto h = hessian_of(p);
  GptqOptions o;
  o.damp_percent = 0;  // force the retry path
  GptqReport rep;
  const auto q = gptq_quantize(p.w.data(), p.rows, p.cols, h, {4, 128, false}, o, &rep);
  EXPECT_EQ(rep.dead_columns, 1);
  EXPECT_GT(rep.damp_used, 0);
  for (int64_t r = 0; r < p.rows; ++r) EXPECT_EQ(q.value(r, 7), 0.0f);
  for (float v : q.dequantize()) EXPECT_TRUE(std::isfinite(v));
}

// The host's part of the sweep shared out over a pool (group fits, codes, in-block updates, GGUF
// block fits) gives the bits of one thread: rows are independent throughout.
TEST(Gptq, ThreadCountChangesNoBit) {
  const Problem p = make_problem(600, 512, 700, 21);
  const std::vector<double> h = hessian_of(p);
  ThreadPool pool(3);
  for (bool act_order : {false, true}) {
    GptqOptions opt;
    opt.act_order = act_order;
    IntGridSpec grid;
    grid.bits = 4, grid.group_size = 128;
    GptqReport one, three;
    const IntQuantizedMatrix a = gptq_quantize(p.w.data(), p.rows, p.cols, h, grid, opt, &one);
    const IntQuantizedMatrix b = gptq_quantize(p.w.data(), p.rows, p.cols, h, grid, opt, &three, nullptr, &pool);
    EXPECT_EQ(a.codes, b.codes) << act_order;
    EXPECT_EQ(a.g_idx, b.g_idx);
    EXPECT_EQ(0, std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(IntGroupParams)));
    EXPECT_EQ(one.loss, three.loss);
    const GgufBlockMatrix ga = gptq_quantize_gguf(p.w.data(), p.rows, p.cols, h, FormatId::Q4_K, opt);
    const GgufBlockMatrix gb = gptq_quantize_gguf(p.w.data(), p.rows, p.cols, h, FormatId::Q4_K, opt, nullptr, nullptr, &pool);
    EXPECT_EQ(ga.bytes, gb.bytes) << act_order;
  }
}
