#include "quantlab/quant/gptq.hpp"
#include "quantlab/quant/int_packing.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace quantlab;

namespace {
std::vector<float> random_weights(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0, 0.02f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = n(rng);
  return w;
}
}  // namespace

TEST(IntPacking, GptqKnownLayout) {
  // 4 bits: input values 0..7 of output column 0 land in one word as 0x76543210.
  IntQuantizedMatrix m;
  m.rows = 8, m.cols = 8, m.spec = {4, 8, false}, m.n_groups = 1;
  m.codes.assign(64, 0);
  for (int i = 0; i < 8; ++i) m.codes[size_t(i)] = uint8_t(i);
  m.params.assign(8, {1.0f, 3.0f});
  m.g_idx.assign(8, 0);
  const auto p = pack_gptq(m);
  ASSERT_EQ(p.qweight_shape, (std::vector<int64_t>{1, 8}));
  EXPECT_EQ(uint32_t(p.qweight[0]), 0x76543210u);
  EXPECT_EQ(uint32_t(p.qzeros[0]), 0x22222222u);  // zero 3 stored as 2 (v1 convention)
}

TEST(IntPacking, GptqRoundTripsAllWidthsAndActOrder) {
  const int64_t rows = 64, cols = 256;
  const auto w = random_weights(rows, cols, 7);
  std::vector<double> h(size_t(cols * cols), 0.0);
  std::mt19937_64 rng(1);
  for (int64_t i = 0; i < cols; ++i) h[size_t(i * cols + i)] = 1.0 + double(rng() % 100);
  for (int bits : {2, 3, 4, 8})
    for (bool act : {false, true}) {
      GptqOptions o;
      o.act_order = act;
      const auto q = gptq_quantize(w.data(), rows, cols, h, {bits, 64, bits == 3}, o);
      const auto back = unpack_gptq(pack_gptq(q), bits == 3);
      EXPECT_EQ(back.codes, q.codes) << bits;
      EXPECT_EQ(back.g_idx, q.g_idx);
      EXPECT_EQ(back.dequantize(), q.dequantize()) << bits << " act " << act;
    }
}

TEST(IntPacking, AwqRoundTripAndOrder) {
  IntQuantizedMatrix m;
  m.rows = 8, m.cols = 1, m.spec = {4, 1, false}, m.n_groups = 1;
  for (int o = 0; o < 8; ++o) m.codes.push_back(uint8_t(o));
  m.params.assign(8, {0.5f, 8.0f});
  m.g_idx = {0};
  const auto p = pack_awq(m);
  EXPECT_EQ(uint32_t(p.qweight[0]), 0x75316420u);  // interleave 0,2,4,6,1,3,5,7
  const auto w = random_weights(32, 256, 9);
  const auto q = quantize_rtn(w.data(), 32, 256, {4, 128, false});
  EXPECT_EQ(unpack_awq(pack_awq(q), 128).dequantize(), q.dequantize());
}
