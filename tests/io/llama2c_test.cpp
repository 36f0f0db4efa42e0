#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/io/tensor_source.hpp"
#include "io_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace quantlab;

TEST(Llama2c, ReadsTheAidreamsCheckpoint) {
  const auto path = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
  QUANTLAB_REQUIRE_FILE(path);
  Llama2cCheckpoint ck(path.string());
  const auto& c = ck.config();
  // PROVENANCE.md: dim=64 hidden=172 n_layers=4 n_heads=4 n_kv_heads=4 vocab=512 (shared) seq_len=128.
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 128);
  EXPECT_TRUE(c.shared_classifier);
  EXPECT_EQ(ck.tensors().size(), 1u + 9u * 4u + 3u);
  EXPECT_EQ(ck.find("output.weight"), nullptr);

  // Views point at the right bytes: compare with the file read independently.
  const auto raw = test::read_bytes(path);
  auto float_at = [&](size_t index) {
    float f;
    std::memcpy(&f, raw.data() + 28 + 4 * index, 4);
    return f;
  };
  const auto* emb = ck.find("tok_embeddings.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(emb->data[100], float_at(100));
  // wq of layer 2 starts after embeddings, rms_att (4*64) and two layers of wq.
  const auto* wq2 = ck.find("layers.2.attention.wq.weight");
  ASSERT_NE(wq2, nullptr);
  EXPECT_EQ(wq2->data[5], float_at(512 * 64 + 4 * 64 + 2 * 64 * 64 + 5));
  const auto* w2 = ck.find("layers.3.feed_forward.w2.weight");
  EXPECT_EQ(w2->shape, (std::vector<int64_t>{64, 172}));
  // freqs_sin is the last array in the file.
  const auto* fs_ = ck.find("freqs_sin");
  EXPECT_EQ(fs_->shape, (std::vector<int64_t>{128, 8}));
  EXPECT_EQ(fs_->data[128 * 8 - 1], float_at((raw.size() - 28) / 4 - 1));

  Llama2cSource src(path.string());
  EXPECT_EQ(src.get("norm.weight").nbytes, 64u * 4u);
  EXPECT_EQ(open_weight_source(path.string())->kind(), "llama2c");
}

TEST(Llama2c, ReadsTokenizers) {
  const auto tok512 = test::shared_dir() / "models/aidreams260K/tok512.bin";
  QUANTLAB_REQUIRE_FILE(tok512);
  const auto v = read_llama2c_tokenizer(tok512.string(), 512);
  EXPECT_EQ(v.max_token_length, 10);
  ASSERT_EQ(v.pieces.size(), 512u);
  EXPECT_EQ(v.pieces[0], "<unk>");
  EXPECT_EQ(v.pieces[1], "\n<s>\n");
  EXPECT_EQ(v.pieces[3], "<0x00>");
  EXPECT_EQ(v.scores[260], -1.0f);
  EXPECT_THROW(read_llama2c_tokenizer(tok512.string(), 511), Error);  // bytes left over
  EXPECT_THROW(read_llama2c_tokenizer(tok512.string(), 513), Error);  // truncated

  const auto llama2 = test::shared_dir() / "data/tokenizers/llama2/tokenizer.bin";
  QUANTLAB_REQUIRE_FILE(llama2);
  const auto l = read_llama2c_tokenizer(llama2.string());
  EXPECT_EQ(l.pieces.size(), 32000u);
  EXPECT_EQ(l.max_token_length, 27);
  EXPECT_EQ(l.pieces[2], "\n</s>\n");
}
