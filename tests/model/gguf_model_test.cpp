// The GGUF loader and the architecture options: aidreams260K rewritten as llama, qwen2 (QKV bias)
// and qwen3 (Q/K RMSNorm) GGUF files. The llama file must reproduce the llama2.c path bit for bit;
// the qwen files hold Hugging Face-layout Q/K rows (NeoX RoPE) and are checked against the numpy
// implementation of those architectures in tools/llama2c_reference.py.
#include "model/reference_fixture.hpp"
#include "model/derived_weights.hpp"
#include "model/tiny_gguf_writer.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace quantlab {
namespace {

using test::aidreams_model;
using test::read_reference;
using test::derived;
using test::floats;
using test::to_hf_rows;

std::string write_gguf(const Model& src, const std::string& arch, bool f16, const std::filesystem::path& path) {
  const auto& c = src.config;
  const int64_t E = c.n_embd, hd = c.head_dim, qd = c.n_head * hd, kvd = c.n_head_kv * hd;
  test::TinyGgufWriter g;
  g.kv_string("general.architecture", arch);
  g.kv_u32(arch + ".block_count", uint32_t(c.n_layer));
  g.kv_u32(arch + ".embedding_length", uint32_t(E));
  g.kv_u32(arch + ".feed_forward_length", uint32_t(c.n_ff));
  g.kv_u32(arch + ".attention.head_count", uint32_t(c.n_head));
  g.kv_u32(arch + ".attention.head_count_kv", uint32_t(c.n_head_kv));
  g.kv_u32(arch + ".context_length", uint32_t(c.n_ctx_train));
  g.kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  g.kv_f32(arch + ".rope.freq_base", 10000.0f);
  g.kv_string("tokenizer.ggml.model", "llama");
  g.kv_u32("tokenizer.ggml.bos_token_id", 1);
  g.kv_u32("tokenizer.ggml.eos_token_id", 2);
  g.kv_bool("tokenizer.ggml.add_bos_token", true);
  const bool hf = arch != "llama";
  g.tensor("token_embd.weight", {E, c.n_vocab}, floats(src.token_embd), f16);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const auto& L = src.layers[size_t(l)];
    const std::string b = "blk." + std::to_string(l) + ".";
    g.tensor(b + "attn_norm.weight", {E}, L.attn_norm);
    g.tensor(b + "attn_q.weight", {E, qd}, hf ? to_hf_rows(floats(L.wq), c.n_head, hd, E) : floats(L.wq), f16);
    g.tensor(b + "attn_k.weight", {E, kvd}, hf ? to_hf_rows(floats(L.wk), c.n_head_kv, hd, E) : floats(L.wk), f16);
    g.tensor(b + "attn_v.weight", {E, kvd}, floats(L.wv), f16);
    g.tensor(b + "attn_output.weight", {qd, E}, floats(L.wo), f16);
    if (arch == "qwen2") {
      g.tensor(b + "attn_q.bias", {qd}, derived("q_bias", qd));
      g.tensor(b + "attn_k.bias", {kvd}, derived("k_bias", kvd));
      g.tensor(b + "attn_v.bias", {kvd}, derived("v_bias", kvd));
    }
    if (arch == "qwen3") {
      g.tensor(b + "attn_q_norm.weight", {hd}, derived("q_norm", hd));
      g.tensor(b + "attn_k_norm.weight", {hd}, derived("k_norm", hd));
    }
    g.tensor(b + "ffn_norm.weight", {E}, L.ffn_norm);
    g.tensor(b + "ffn_gate.weight", {E, c.n_ff}, floats(L.ffn_gate), f16);
    g.tensor(b + "ffn_up.weight", {E, c.n_ff}, floats(L.ffn_up), f16);
    g.tensor(b + "ffn_down.weight", {c.n_ff, E}, floats(L.ffn_down), f16);
  }
  g.tensor("output_norm.weight", {E}, src.output_norm);
  g.write(path.string());
  return path.string();
}

class GgufModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QUANTLAB_REQUIRE_FILE(aidreams_model());
    dir_ = test::temp_dir("gguf-model");
    ref_ = read_reference();
    src_ = std::make_unique<Model>(load_model(aidreams_model()));
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::vector<float> logits(const Model& m, size_t n_tokens) {
    ThreadPool pool(2);
    Session s(m, pool);
    const auto lg = s.forward({ref_.tokens.data(), n_tokens}, 0);
    return {lg.begin(), lg.end()};
  }
  std::filesystem::path dir_;
  test::LlamaReference ref_;
  std::unique_ptr<Model> src_;
};

TEST_F(GgufModelTest, LlamaF32ReproducesTheCheckpointBitForBit) {
  const Model m = load_model(write_gguf(*src_, "llama", false, dir_ / "llama.gguf"));
  EXPECT_EQ("gguf", m.source_format);
  EXPECT_TRUE(m.config.tied_embeddings);
  EXPECT_EQ(RopeStyle::Normal, m.config.rope_style);
  const auto a = logits(*src_, ref_.tokens.size()), b = logits(m, ref_.tokens.size());
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST_F(GgufModelTest, LlamaF16StaysCloseToF32) {
  const Model m = load_model(write_gguf(*src_, "llama", true, dir_ / "llama-f16.gguf"));
  EXPECT_EQ(FormatId::F16, m.layers[0].wq.format);
  const auto a = logits(*src_, ref_.tokens.size()), b = logits(m, ref_.tokens.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(worst, 0.05);
  EXPECT_GT(worst, 0.0) << "f16 rounding of the weights must show";
}

void expect_matches(const std::vector<float>& lg, int64_t V, const std::vector<test::PositionReference>& ref,
                    const std::vector<int32_t>& probe_ids) {
  ASSERT_EQ(lg.size(), ref.size() * size_t(V));
  double worst = 0;
  for (size_t t = 0; t < ref.size(); ++t) {
    const float* row = lg.data() + t * size_t(V);
    EXPECT_EQ(ref[t].argmax, argmax({row, size_t(V)})) << "position " << t;
    for (size_t i = 0; i < probe_ids.size(); ++i)
      worst = std::max(worst, std::fabs(double(row[probe_ids[i]]) - ref[t].probes[i]));
    worst = std::max(worst, std::fabs(double(*std::max_element(row, row + V)) - ref[t].max));
  }
  EXPECT_LT(worst, 2e-4);
}

TEST_F(GgufModelTest, Qwen2WithQkvBiasMatchesNumpyReference) {
  const Model m = load_model(write_gguf(*src_, "qwen2", false, dir_ / "qwen2.gguf"));
  EXPECT_TRUE(m.config.qkv_bias);
  EXPECT_EQ(RopeStyle::NeoX, m.config.rope_style);
  const auto& ref = ref_.arch_positions.at("qwen2");
  expect_matches(logits(m, ref.size()), m.config.n_vocab, ref, ref_.probe_ids);
}

TEST_F(GgufModelTest, Qwen3WithQkNormMatchesNumpyReference) {
  const Model m = load_model(write_gguf(*src_, "qwen3", false, dir_ / "qwen3.gguf"));
  EXPECT_TRUE(m.config.qk_norm);
  EXPECT_FALSE(m.config.qkv_bias);
  const auto& ref = ref_.arch_positions.at("qwen3");
  expect_matches(logits(m, ref.size()), m.config.n_vocab, ref, ref_.probe_ids);
}

TEST_F(GgufModelTest, MissingTensorAndUnknownArchitectureAreNamed) {
  test::TinyGgufWriter g;
  g.kv_string("general.architecture", "mamba");
  g.write((dir_ / "mamba.gguf").string());
  try {
    load_model((dir_ / "mamba.gguf").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("general.architecture", e.field());
  }
  // A llama file without blk.0.attn_q.weight.
  test::TinyGgufWriter h;
  h.kv_string("general.architecture", "llama");
  h.kv_u32("llama.block_count", 1);
  h.kv_u32("llama.embedding_length", 8);
  h.kv_u32("llama.feed_forward_length", 16);
  h.kv_u32("llama.attention.head_count", 2);
  h.tensor("token_embd.weight", {8, 10}, std::vector<float>(80, 0.1f));
  h.tensor("blk.0.attn_norm.weight", {8}, std::vector<float>(8, 1.0f));
  h.write((dir_ / "partial.gguf").string());
  try {
    load_model((dir_ / "partial.gguf").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("blk.0.attn_q.weight", e.field());
    EXPECT_EQ((dir_ / "partial.gguf").string(), e.source());
  }
}

}  // namespace
}  // namespace quantlab
