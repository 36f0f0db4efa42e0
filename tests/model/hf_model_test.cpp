// The Hugging Face folder loader: aidreams260K rewritten as config.json + model.safetensors with
// Hugging Face tensor names and Q/K row order (rotate_half RoPE), as llama (F32 and BF16) and as
// qwen2/qwen3; checked against the llama2.c path and the numpy Qwen references.
#include "model/derived_weights.hpp"
#include "model/reference_fixture.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/io/safetensors.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

namespace quantlab {
namespace {

using test::derived;
using test::floats;
using test::to_hf_rows;

std::vector<uint8_t> encode(const std::vector<float>& v, bool bf16) {
  std::vector<uint8_t> out(v.size() * (bf16 ? 2 : 4));
  for (size_t i = 0; i < v.size(); ++i) {
    if (bf16) {
      const uint16_t h = f32_to_bf16(v[i]);
      std::memcpy(&out[2 * i], &h, 2);
    } else {
      std::memcpy(&out[4 * i], &v[i], 4);
    }
  }
  return out;
}

void write_hf(const Model& src, const std::string& type, bool bf16, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto& c = src.config;
  const int64_t E = c.n_embd, hd = c.head_dim, qd = c.n_head * hd, kvd = c.n_head_kv * hd;
  nlohmann::json cfg = {{"architectures", {type == "llama" ? "LlamaForCausalLM" : type == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM"}},
                        {"model_type", type}, {"hidden_size", E}, {"intermediate_size", c.n_ff},
                        {"num_hidden_layers", c.n_layer}, {"num_attention_heads", c.n_head},
                        {"num_key_value_heads", c.n_head_kv}, {"vocab_size", c.n_vocab}, {"rms_norm_eps", 1e-5},
                        {"rope_theta", 10000.0}, {"max_position_embeddings", c.n_ctx_train},
                        {"tie_word_embeddings", true}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  std::ofstream(dir / "config.json") << cfg.dump(1);
  SafetensorsWriter w;
  const char* dt = bf16 ? "BF16" : "F32";
  auto mat = [&](const std::string& name, std::vector<float> v, int64_t rows, int64_t cols) {
    w.add_tensor(name, dt, {rows, cols}, encode(v, bf16));
  };
  auto vec = [&](const std::string& name, const std::vector<float>& v) {
    w.add_tensor(name, "F32", {int64_t(v.size())}, encode(v, false));
  };
  mat("model.embed_tokens.weight", floats(src.token_embd), c.n_vocab, E);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const auto& L = src.layers[size_t(l)];
    const std::string b = "model.layers." + std::to_string(l) + ".";
    vec(b + "input_layernorm.weight", L.attn_norm);
    mat(b + "self_attn.q_proj.weight", to_hf_rows(floats(L.wq), c.n_head, hd, E), qd, E);
    mat(b + "self_attn.k_proj.weight", to_hf_rows(floats(L.wk), c.n_head_kv, hd, E), kvd, E);
    mat(b + "self_attn.v_proj.weight", floats(L.wv), kvd, E);
    mat(b + "self_attn.o_proj.weight", floats(L.wo), E, qd);
    if (type == "qwen2") {
      vec(b + "self_attn.q_proj.bias", derived("q_bias", qd));
      vec(b + "self_attn.k_proj.bias", derived("k_bias", kvd));
      vec(b + "self_attn.v_proj.bias", derived("v_bias", kvd));
    }
    if (type == "qwen3") {
      vec(b + "self_attn.q_norm.weight", derived("q_norm", hd));
      vec(b + "self_attn.k_norm.weight", derived("k_norm", hd));
    }
    vec(b + "post_attention_layernorm.weight", L.ffn_norm);
    mat(b + "mlp.gate_proj.weight", floats(L.ffn_gate), c.n_ff, E);
    mat(b + "mlp.up_proj.weight", floats(L.ffn_up), c.n_ff, E);
    mat(b + "mlp.down_proj.weight", floats(L.ffn_down), E, c.n_ff);
  }
  vec("model.norm.weight", src.output_norm);
  w.write((dir / "model.safetensors").string());
}

class HfModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QUANTLAB_REQUIRE_FILE(test::aidreams_model());
    dir_ = test::temp_dir("hf-model");
    ref_ = test::read_reference();
    src_ = std::make_unique<Model>(load_model(test::aidreams_model()));
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::vector<float> logits(const Model& m, size_t n) {
    ThreadPool pool(2);
    Session s(m, pool);
    const auto lg = s.forward({ref_.tokens.data(), n}, 0);
    return {lg.begin(), lg.end()};
  }
  std::filesystem::path dir_;
  test::LlamaReference ref_;
  std::unique_ptr<Model> src_;
};

TEST_F(HfModelTest, LlamaFolderWithRotateHalfMatchesTheCheckpoint) {
  write_hf(*src_, "llama", false, dir_ / "llama");
  const Model m = load_model((dir_ / "llama").string());
  EXPECT_EQ("hf", m.source_format);
  EXPECT_EQ(RopeStyle::NeoX, m.config.rope_style);
  EXPECT_TRUE(m.config.add_bos);
  const auto a = logits(*src_, ref_.tokens.size()), b = logits(m, ref_.tokens.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(worst, 1e-4) << "same model, Q/K rows reordered and rotated by halves";
}

TEST_F(HfModelTest, Bf16FolderStaysClose) {
  write_hf(*src_, "llama", true, dir_ / "bf16");
  const Model m = load_model((dir_ / "bf16").string());
  EXPECT_EQ(FormatId::BF16, m.layers[0].wq.format);
  const auto a = logits(*src_, ref_.tokens.size()), b = logits(m, ref_.tokens.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(worst, 0.3);
  EXPECT_GT(worst, 0.0);
}

TEST_F(HfModelTest, QwenFoldersMatchNumpyReferences) {
  for (const std::string type : {"qwen2", "qwen3"}) {
    write_hf(*src_, type, false, dir_ / type);
    const Model m = load_model((dir_ / type).string());
    EXPECT_EQ(type == "qwen2", m.config.qkv_bias);
    EXPECT_EQ(type == "qwen3", m.config.qk_norm);
    EXPECT_FALSE(m.config.add_bos);
    const auto& ref = ref_.arch_positions.at(type);
    const auto lg = logits(m, ref.size());
    const int64_t V = m.config.n_vocab;
    double worst = 0;
    for (size_t t = 0; t < ref.size(); ++t) {
      const float* row = lg.data() + t * size_t(V);
      EXPECT_EQ(ref[t].argmax, argmax({row, size_t(V)})) << type << " position " << t;
      for (size_t i = 0; i < ref_.probe_ids.size(); ++i)
        worst = std::max(worst, std::fabs(double(row[ref_.probe_ids[i]]) - ref[t].probes[i]));
    }
    EXPECT_LT(worst, 2e-4) << type;
  }
}

TEST_F(HfModelTest, UnsupportedTypeAndMissingFieldAreNamed) {
  const auto d = dir_ / "gemma";
  std::filesystem::create_directories(d);
  std::ofstream(d / "config.json") << R"({"model_type": "gemma3", "hidden_size": 8})";
  SafetensorsWriter w;
  const std::vector<float> one(8, 1.0f);
  w.add_tensor("model.norm.weight", "F32", {8}, encode(one, false));
  w.write((d / "model.safetensors").string());
  try {
    load_model(d.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("model_type", e.field());
  }
  std::ofstream(d / "config.json") << R"({"model_type": "llama", "hidden_size": 8})";
  try {
    load_model(d.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("num_hidden_layers", e.field());
  }
}

}  // namespace
}  // namespace quantlab
