#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/quant/imatrix.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace quantlab;

TEST(Imatrix, AccumulatesMeanSquares) {
  Imatrix m;
  const float x[6] = {1, 2, 3, -1, 0, 3};  // 2 tokens x 3 columns
  m.add("blk.0.attn_q.weight", x, 2, 3);
  const auto w = m.importance("blk.0.attn_q.weight");
  ASSERT_EQ(w.size(), 3u);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
  EXPECT_FLOAT_EQ(w[1], 2.0f);
  EXPECT_FLOAT_EQ(w[2], 9.0f);
  EXPECT_THROW(m.add("blk.0.attn_q.weight", x, 1, 6), Error);
}

TEST(Imatrix, DatRoundTrip) {
  Imatrix m;
  m.chunk_size = 4;
  m.chunk_count = 3;
  m.datasets = {"groups_merged.txt"};
  std::vector<float> x(10 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 3.0f;
  m.add("blk.0.ffn_up.weight", x.data(), 10, 8);
  m.add("blk.1.attn_k.weight", x.data(), 5, 16);
  const auto path = (test::temp_dir("imatrix") / "m.dat").string();
  write_imatrix_dat(m, path);
  const auto r = read_imatrix(path);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.datasets, m.datasets);
  EXPECT_EQ(r.chunk_count, 3);
  for (const auto& [name, e] : m.entries) {
    const auto a = m.importance(name), b = r.importance(name);
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(a[j], b[j], 1e-6f * (1 + a[j])) << name << j;
  }
}

// llama.cpp's imatrix GGUF: per matrix a 1-D in_sum2 of n_cols and a 1-D counts of 1 (ggml_n_dims drops
// the trailing 1 of its [n, 1] tensors), datasets and chunk figures as KVs; read back unchanged.
TEST(Imatrix, GgufLayoutAsLlamaCpp) {
  Imatrix m;
  m.chunk_size = 4;
  m.chunk_count = 2;
  m.datasets = {"wiki.test.raw"};
  std::vector<float> x(3 * 8, 0.5f);
  m.add("blk.0.ffn_down.weight", x.data(), 3, 8);
  const auto path = (test::temp_dir("imatrix") / "m.gguf").string();
  write_imatrix_gguf(m, path);
  const GgufFile f(path);
  const auto* s2 = f.find_tensor("blk.0.ffn_down.weight.in_sum2");
  const auto* c = f.find_tensor("blk.0.ffn_down.weight.counts");
  ASSERT_TRUE(s2 && c);
  EXPECT_EQ(s2->ne, std::vector<int64_t>{8});
  EXPECT_EQ(c->ne, std::vector<int64_t>{1});
  const auto r = read_imatrix(path);
  EXPECT_EQ(r.chunk_count, 2);
  EXPECT_FLOAT_EQ(r.importance("blk.0.ffn_down.weight")[7], 0.25f);
}

TEST(Imatrix, RejectsTruncatedAndHostileDat) {
  const auto dir = test::temp_dir("imatrix-bad");
  auto write = [&](const std::string& name, const std::string& bytes) {
    const auto p = (dir / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  };
  EXPECT_THROW(read_imatrix(write("empty.dat", "")), Error);
  EXPECT_THROW(read_imatrix(write("huge.dat", std::string("\xff\xff\xff\x7f", 4))), Error);
  std::string one(4, '\0');
  one[0] = 1;
  one += std::string("\x05\0\0\0", 4) + "abcde" + std::string("\x01\0\0\0", 4) + std::string("\x00\x00\x00\x40", 4);
  try {
    read_imatrix(write("trunc.dat", one));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "abcde");
    EXPECT_NE(std::string(e.what()).find("trunc.dat"), std::string::npos);
  }
}
