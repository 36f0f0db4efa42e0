// GPTQ onto GGUF block formats (quant/gptq_gguf.hpp) and the block grids it writes through
// (formats/block_grid.hpp), on synthetic problems.
#include "quantlab/core/error.hpp"
#include "quantlab/formats/block_grid.hpp"
#include "quantlab/quant/gptq_gguf.hpp"
#include "quantlab/quant/hessian.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace quantlab;

namespace {

const FormatId kGridTypes[] = {FormatId::Q4_0, FormatId::Q4_1, FormatId::Q5_0, FormatId::Q5_1,
                               FormatId::Q8_0, FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K};

std::vector<float> random_weights(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n01(0, 1);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) v = n01(rng) * 0.05f;
  return w;
}

// Activations with a few shared latent factors and a spread of channel scales, as real inputs
// have: a Hessian with strong correlations for error feedback to exploit.
std::vector<double> correlated_hessian(int64_t cols, int64_t tokens, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n01(0, 1);
  const int k = 8;
  std::vector<float> mix(static_cast<size_t>(k * cols)), chan(static_cast<size_t>(cols)), x(static_cast<size_t>(tokens * cols));
  for (auto& v : mix) v = n01(rng);
  for (auto& v : chan) v = std::exp(n01(rng));
  for (int64_t t = 0; t < tokens; ++t) {
    float z[k];
    for (auto& v : z) v = n01(rng);
    for (int64_t c = 0; c < cols; ++c) {
      float s = 0.3f * n01(rng);
      for (int j = 0; j < k; ++j) s += z[j] * mix[size_t(j * cols + c)];
      x[size_t(t * cols + c)] = s * chan[size_t(c)];
    }
  }
  HessianAccumulator acc(cols);
  acc.add(x.data(), tokens);
  return acc.take_hessian();
}

// tr(ΔW H ΔWᵀ): the layer-output error GPTQ minimizes.
double proxy_loss(const std::vector<float>& w, const std::vector<float>& q, int64_t rows, int64_t cols,
                  const std::vector<double>& H) {
  double total = 0;
  std::vector<double> d(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) d[size_t(c)] = double(w[size_t(r * cols + c)]) - q[size_t(r * cols + c)];
    for (int64_t i = 0; i < cols; ++i) {
      double s = 0;
      for (int64_t j = 0; j < cols; ++j) s += H[size_t(i * cols + j)] * d[size_t(j)];
      total += d[size_t(i)] * s;
    }
  }
  return total;
}

std::vector<float> decode(const GgufBlockMatrix& m) {
  std::vector<float> out(size_t(m.rows * m.cols));
  const size_t rb = row_bytes(m.type, m.cols);
  for (int64_t r = 0; r < m.rows; ++r) format_traits(m.type).to_float(m.bytes.data() + size_t(r) * rb, out.data() + r * m.cols, m.cols);
  return out;
}

}  // namespace

// read() then write_levels() keeps a block's bytes, and grid_value() reproduces the decoder bit
// for bit, for blocks from the encoder with and without importance weights.
TEST(BlockGrid, ReadWriteRoundTripsAndMatchesTheDecoder) {
  for (FormatId id : kGridTypes) {
    const BlockGrid* g = find_block_grid(id);
    ASSERT_NE(g, nullptr);
    const FormatTraits& ft = format_traits(id);
    const int64_t n = g->block_size;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      std::vector<float> x = random_weights(n, seed), imp = random_weights(n, seed + 100);
      for (auto& v : imp) v = std::fabs(v) * 100;
      if (seed % 5 == 4) std::fill(x.begin(), x.begin() + n / 2, 0.0f);  // zero sub-blocks
      if (seed == 7) std::fill(x.begin(), x.end(), 0.0f);
      std::vector<uint8_t> block(ft.block_bytes), again(ft.block_bytes);
      ft.from_float(x.data(), block.data(), n, seed % 2 ? imp.data() : nullptr);
      std::vector<float> scale(static_cast<size_t>(n)), offset(static_cast<size_t>(n)), decoded(static_cast<size_t>(n));
      std::vector<int16_t> level(static_cast<size_t>(n));
      g->read(block.data(), scale.data(), offset.data(), level.data());
      ft.to_float(block.data(), decoded.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_GE(level[size_t(i)], g->level_min);
        ASSERT_LE(level[size_t(i)], g->level_max);
        const float v = grid_value(scale[size_t(i)], offset[size_t(i)], level[size_t(i)]);
        ASSERT_EQ(std::memcmp(&v, &decoded[size_t(i)], 4), 0) << ft.name << " seed " << seed << " value " << i;
      }
      // Other levels written are read back with the parameters unchanged; the original ones
      // give the original bytes.
      std::mt19937_64 rng(seed);
      std::uniform_int_distribution<int> pick(g->level_min, g->level_max);
      std::vector<int16_t> other(static_cast<size_t>(n)), level2(static_cast<size_t>(n));
      for (auto& l : other) l = int16_t(pick(rng));
      std::vector<float> scale2(static_cast<size_t>(n)), offset2(static_cast<size_t>(n));
      again = block;
      g->write_levels(again.data(), other.data());
      g->read(again.data(), scale2.data(), offset2.data(), level2.data());
      ASSERT_EQ(level2, other) << ft.name;
      ASSERT_EQ(std::memcmp(scale2.data(), scale.data(), 4 * size_t(n)), 0) << ft.name;
      ASSERT_EQ(std::memcmp(offset2.data(), offset.data(), 4 * size_t(n)), 0) << ft.name;
      g->write_levels(again.data(), level.data());
      ASSERT_EQ(again, block) << ft.name << " seed " << seed;
    }
  }
  EXPECT_EQ(find_block_grid(FormatId::IQ4_XS), nullptr);
}

// With a diagonal Hessian no error is propagated: each k-quant block is fitted on the original
// weights with importance = diag(H) and rounded by the format's own requantization, so the bytes
// are the format encoder's with that importance (llama-quantize with such an imatrix), bit for bit,
// in any column order.
TEST(GptqGguf, DiagonalHessianEqualsImportanceEncoding) {
  const int64_t rows = 12, cols = 512;
  const auto w = random_weights(rows * cols, 1);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.1, 10.0);
  std::vector<double> H(size_t(cols * cols), 0.0);
  std::vector<float> diag(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) diag[size_t(c)] = float(H[size_t(c * cols + c)] = u(rng));
  for (FormatId id : {FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K})
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.act_order = act_order;
      const GgufBlockMatrix g = gptq_quantize_gguf(w.data(), rows, cols, H, id, o);
      const GgufBlockMatrix ref = encode_gguf_matrix(w.data(), rows, cols, id, diag.data());
      EXPECT_EQ(g.bytes, ref.bytes) << format_traits(id).name << " act_order " << act_order;
      EXPECT_EQ(std::memcmp(g.dequantized.data(), ref.dequantized.data(), 4 * g.dequantized.size()), 0);
    }
}

// On correlated inputs the error feedback pays: the layer-output proxy loss is lower than the
// format's own encoding (with or without the Hessian diagonal as importance), for every grid.
TEST(GptqGguf, CorrelatedHessianLowersTheProxyLoss) {
  const int64_t rows = 24, cols = 512;
  const auto w = random_weights(rows * cols, 2);
  const auto H = correlated_hessian(cols, 2048, 3);
  std::vector<float> diag(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) diag[size_t(c)] = float(H[size_t(c * cols + c)]);
  for (FormatId id : kGridTypes) {
    const double plain = proxy_loss(w, encode_gguf_matrix(w.data(), rows, cols, id, nullptr).dequantized, rows, cols, H);
    const double weighted = proxy_loss(w, encode_gguf_matrix(w.data(), rows, cols, id, diag.data()).dequantized, rows, cols, H);
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.act_order = act_order;
      const double gptq = proxy_loss(w, gptq_quantize_gguf(w.data(), rows, cols, H, id, o).dequantized, rows, cols, H);
      EXPECT_LT(gptq, 0.8 * std::min(plain, weighted))
          << format_traits(id).name << " act_order " << act_order << ": gptq " << gptq << " plain " << plain << " weighted " << weighted;
    }
  }
}

// The bytes are the result: decoding them gives exactly the values GPTQ propagated errors from.
TEST(GptqGguf, BytesDecodeToTheDequantizedWeights) {
  const int64_t rows = 10, cols = 768;
  const auto w = random_weights(rows * cols, 4);
  auto H = correlated_hessian(cols, 1024, 6);
  for (int64_t r = 0; r < cols; ++r) H[size_t(r * cols + 5)] = H[size_t(5 * cols + r)] = 0;  // a dead input
  for (FormatId id : kGridTypes)
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.act_order = act_order;
      o.block_size = 100;  // rounded up to whole blocks
      GptqReport rep;
      const GgufBlockMatrix g = gptq_quantize_gguf(w.data(), rows, cols, H, id, o, &rep);
      EXPECT_EQ(rep.dead_columns, 1);
      ASSERT_EQ(g.bytes.size(), row_bytes(id, cols) * size_t(rows));
      const auto d = decode(g);
      EXPECT_EQ(std::memcmp(d.data(), g.dequantized.data(), 4 * d.size()), 0) << format_traits(id).name;
    }
}

TEST(GptqGguf, RefusesTypesWithoutAGridAndRowsThatDoNotFit) {
  const std::vector<float> w(size_t(2 * 256), 0.1f);
  std::vector<double> H(size_t(256 * 256), 0.0);
  for (int i = 0; i < 256; ++i) H[size_t(i * 257)] = 1;
  EXPECT_THROW(gptq_quantize_gguf(w.data(), 2, 256, H, FormatId::IQ4_XS, {}), Error);
  std::vector<double> H2(size_t(128 * 128), 0.0);
  for (int i = 0; i < 128; ++i) H2[size_t(i * 129)] = 1;
  EXPECT_THROW(gptq_quantize_gguf(w.data(), 4, 128, H2, FormatId::Q4_K, {}), Error);
}
