// Gemma 3's pieces without the real model: the gemma3 GGUF options (llama.cpp's defaults for the
// sliding-window pattern and the local RoPE base), the sliding-window rule of the attention, the
// f16-rounded GELU of ggml, and the engine's invariants on a tiny gemma3 file built from the
// aidreams260K weights (Session and LayerRunner agree bit for bit; decode equals prefill across
// the window; a window wider than the input changes nothing). The numbers themselves are checked
// against llama.cpp on the real Gemma 3 270M in gemma3_slow_test.cpp.
#include "model/derived_weights.hpp"
#include "model/reference_fixture.hpp"
#include "model/tiny_gguf_writer.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <random>

namespace quantlab {
namespace {

using test::aidreams_model;
using test::derived;
using test::floats;
using test::to_hf_rows;

struct Gemma3FileOptions {
  int64_t sliding_window = 0;              // 0: key absent
  std::optional<uint32_t> pattern_period;  // gemma3.attention.sliding_window_pattern as a period
  std::vector<bool> pattern_layers;        // ... or as a per-layer array (non-empty)
  float freq_base = 1e6f;
  std::optional<float> freq_base_swa;
  bool drop_post_ffw_norm = false;
};

// aidreams260K's weights as a gemma3 GGUF: Hugging Face row order for Q/K (NeoX RoPE), the
// Q/K and post norms from derived() (stored as llama.cpp's converter stores them, "+1" included).
std::string write_gemma3(const Model& src, const Gemma3FileOptions& o, const std::filesystem::path& path) {
  const auto& c = src.config;
  const int64_t E = c.n_embd, hd = c.head_dim, qd = c.n_head * hd, kvd = c.n_head_kv * hd;
  test::TinyGgufWriter g;
  const std::string a = "gemma3.";
  g.kv_string("general.architecture", "gemma3");
  g.kv_u32(a + "block_count", uint32_t(c.n_layer));
  g.kv_u32(a + "embedding_length", uint32_t(E));
  g.kv_u32(a + "feed_forward_length", uint32_t(c.n_ff));
  g.kv_u32(a + "attention.head_count", uint32_t(c.n_head));
  g.kv_u32(a + "attention.head_count_kv", uint32_t(c.n_head_kv));
  g.kv_u32(a + "attention.key_length", uint32_t(hd));
  g.kv_u32(a + "attention.value_length", uint32_t(hd));
  g.kv_u32(a + "context_length", uint32_t(c.n_ctx_train));
  g.kv_f32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
  g.kv_f32(a + "rope.freq_base", o.freq_base);
  if (o.sliding_window > 0) g.kv_u32(a + "attention.sliding_window", uint32_t(o.sliding_window));
  if (o.pattern_period) g.kv_u32(a + "attention.sliding_window_pattern", *o.pattern_period);
  if (!o.pattern_layers.empty()) g.kv_bool_array(a + "attention.sliding_window_pattern", o.pattern_layers);
  if (o.freq_base_swa) g.kv_f32(a + "rope.freq_base_swa", *o.freq_base_swa);
  g.kv_string("tokenizer.ggml.model", "llama");
  g.kv_u32("tokenizer.ggml.bos_token_id", 1);
  g.kv_u32("tokenizer.ggml.eos_token_id", 2);
  g.tensor("token_embd.weight", {E, c.n_vocab}, floats(src.token_embd));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const auto& L = src.layers[size_t(l)];
    const std::string b = "blk." + std::to_string(l) + ".";
    g.tensor(b + "attn_norm.weight", {E}, L.attn_norm);
    g.tensor(b + "attn_q.weight", {E, qd}, to_hf_rows(floats(L.wq), c.n_head, hd, E));
    g.tensor(b + "attn_k.weight", {E, kvd}, to_hf_rows(floats(L.wk), c.n_head_kv, hd, E));
    g.tensor(b + "attn_v.weight", {E, kvd}, floats(L.wv));
    g.tensor(b + "attn_output.weight", {qd, E}, floats(L.wo));
    g.tensor(b + "attn_q_norm.weight", {hd}, derived("q_norm", hd));
    g.tensor(b + "attn_k_norm.weight", {hd}, derived("k_norm", hd));
    g.tensor(b + "post_attention_norm.weight", {E}, derived("q_norm", E));
    g.tensor(b + "ffn_norm.weight", {E}, L.ffn_norm);
    g.tensor(b + "ffn_gate.weight", {E, c.n_ff}, floats(L.ffn_gate));
    g.tensor(b + "ffn_up.weight", {E, c.n_ff}, floats(L.ffn_up));
    g.tensor(b + "ffn_down.weight", {c.n_ff, E}, floats(L.ffn_down));
    if (!(o.drop_post_ffw_norm && l == 0)) g.tensor(b + "post_ffw_norm.weight", {E}, derived("k_norm", E));
  }
  g.tensor("output_norm.weight", {E}, src.output_norm);
  g.write(path.string());
  return path.string();
}

class Gemma3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    QUANTLAB_REQUIRE_FILE(aidreams_model());
    dir_ = test::temp_dir("gemma3");
    src_ = std::make_unique<Model>(load_model(aidreams_model()));
    const auto ref = test::read_reference();
    tokens_ = ref.ppl_tokens;
    tokens_.resize(std::min<size_t>(tokens_.size(), 40));
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Model gemma(const Gemma3FileOptions& o, const std::string& name) { return load_model(write_gemma3(*src_, o, dir_ / name)); }
  std::vector<float> logits(const Model& m, int threads = 1) {
    ThreadPool pool(threads);
    Session s(m, pool);
    const auto lg = s.forward(tokens_, 0);
    return {lg.begin(), lg.end()};
  }
  std::filesystem::path dir_;
  std::unique_ptr<Model> src_;
  std::vector<int32_t> tokens_;
};

TEST(Gemma3Pattern, EverySixthLayerIsGlobalAsInLlamaCpp) {
  // Gemma 3 270M: 18 layers, global attention on layers 5, 11 and 17 only.
  const auto p = swa_pattern(18, 6);
  ASSERT_EQ(18u, p.size());
  for (int64_t l = 0; l < 18; ++l) EXPECT_EQ(l % 6 == 5 ? 0 : 1, p[size_t(l)]) << "layer " << l;
  for (uint8_t v : swa_pattern(5, 0)) EXPECT_EQ(1, v);  // period 0: every layer local
  for (uint8_t v : swa_pattern(5, 1)) EXPECT_EQ(0, v);  // period 1: every layer global
}

TEST_F(Gemma3Test, ReadsTheGemma3Options) {
  Gemma3FileOptions o;
  o.sliding_window = 8;
  const Model m = gemma(o, "default.gguf");
  const ModelConfig& c = m.config;
  EXPECT_EQ("gemma3", c.arch);
  EXPECT_EQ(RopeStyle::NeoX, c.rope_style);
  EXPECT_FLOAT_EQ(std::sqrt(64.0f), c.embd_scale);
  EXPECT_FLOAT_EQ(0.25f, c.attn_q_scale);  // key_length 16
  EXPECT_TRUE(c.post_norms);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(FfnActivation::GeluTanh, c.ffn_act);
  EXPECT_EQ(0.0f, c.final_logit_softcap);
  EXPECT_NEAR(1e-6f, c.rms_eps, 1e-12);
  EXPECT_EQ(8, c.n_swa);
  // No pattern key: llama.cpp's default period 6, so all four layers are local here.
  for (int64_t l = 0; l < 4; ++l) {
    EXPECT_TRUE(c.is_swa(l));
    EXPECT_EQ(8, c.attention_window(l));
    EXPECT_EQ(10000.0f, c.rope(l).freq_base);
  }
  EXPECT_EQ(1e6f, c.rope_freq_base);
  EXPECT_FALSE(m.layers[0].attn_post_norm.empty());
  EXPECT_FALSE(m.layers[3].ffn_post_norm.empty());

  o.pattern_period = 2;
  o.freq_base_swa = 5000.0f;
  const Model p = gemma(o, "period.gguf");
  EXPECT_TRUE(p.config.is_swa(0));
  EXPECT_FALSE(p.config.is_swa(1));
  EXPECT_EQ(0, p.config.attention_window(1));
  EXPECT_EQ(5000.0f, p.config.rope(0).freq_base);
  EXPECT_EQ(1e6f, p.config.rope(1).freq_base);

  o.pattern_period.reset();
  o.pattern_layers = {false, true, true, false};
  const Model q = gemma(o, "array.gguf");
  EXPECT_EQ((std::vector<uint8_t>{0, 1, 1, 0}), q.config.swa_layers);

  const Model none = gemma(Gemma3FileOptions{}, "none.gguf");  // no sliding_window: all global
  for (int64_t l = 0; l < 4; ++l) EXPECT_FALSE(none.config.is_swa(l));
}

TEST_F(Gemma3Test, BadPatternAndMissingPostNormAreNamed) {
  Gemma3FileOptions o;
  o.sliding_window = 8;
  o.pattern_layers = {true, false};  // 2 entries for 4 layers
  try {
    gemma(o, "bad-pattern.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("gemma3.attention.sliding_window_pattern", e.field());
  }
  o.pattern_layers.clear();
  o.drop_post_ffw_norm = true;
  try {
    gemma(o, "no-post-norm.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ("blk.0.post_ffw_norm.weight", e.field());
  }
}

TEST_F(Gemma3Test, SessionAndLayerRunnerAgreeBitForBit) {
  Gemma3FileOptions o;
  o.sliding_window = 5;  // shorter than the input: the window takes effect
  o.pattern_period = 2;
  const Model m = gemma(o, "swa.gguf");
  const auto a = logits(m, 2);
  ThreadPool pool(2);
  LayerRunner r(m.config, pool);
  SampleBatch b = r.embed(m, {tokens_});
  for (int64_t l = 0; l < m.config.n_layer; ++l) r.run_layer(int(l), m.layers[size_t(l)], b);
  std::vector<float> out;
  r.logits(m, b, 0, out);
  ASSERT_EQ(a.size(), out.size());
  EXPECT_EQ(0, std::memcmp(a.data(), out.data(), a.size() * sizeof(float)));
  const auto one = logits(m, 1);
  EXPECT_EQ(0, std::memcmp(a.data(), one.data(), a.size() * sizeof(float))) << "thread count changed the bits";
}

TEST_F(Gemma3Test, DecodeEqualsPrefillAcrossTheSlidingWindow) {
  Gemma3FileOptions o;
  o.sliding_window = 5;
  o.pattern_period = 2;
  const Model m = gemma(o, "swa.gguf");
  const auto full = logits(m);
  ThreadPool pool(1);
  Session s(m, pool);
  const int64_t V = m.config.n_vocab;
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const auto lg = s.forward({tokens_.data() + t, 1}, 0);
    ASSERT_EQ(0, std::memcmp(lg.data(), full.data() + t * size_t(V), size_t(V) * sizeof(float))) << "position " << t;
  }
}

TEST_F(Gemma3Test, TheWindowOnlyHidesKeysOutsideIt) {
  // Same RoPE base for local and global layers, so only the window differs between the files.
  Gemma3FileOptions global;
  global.freq_base = 10000.0f;
  Gemma3FileOptions wide = global, narrow = global;
  wide.sliding_window = 1000;
  narrow.sliding_window = 5;
  const auto g = logits(gemma(global, "global.gguf"));
  const auto w = logits(gemma(wide, "wide.gguf"));
  const auto n = logits(gemma(narrow, "narrow.gguf"));
  ASSERT_EQ(g.size(), w.size());
  EXPECT_EQ(0, std::memcmp(g.data(), w.data(), g.size() * sizeof(float)));
  const size_t V = size_t(src_->config.n_vocab);
  // Positions 0..4 see at most 5 keys: identical; position 5 on has lost its oldest key.
  EXPECT_EQ(0, std::memcmp(g.data(), n.data(), 5 * V * sizeof(float)));
  for (size_t t = 5; t < tokens_.size(); ++t)
    EXPECT_NE(0, std::memcmp(g.data() + t * V, n.data() + t * V, V * sizeof(float))) << "position " << t;
}

TEST(Gemma3Ops, SlidingWindowAttentionSeesExactlyTheLastWindowKeys) {
  const AttentionShape full{4, 2, 16, 0.25f, 0};
  const int64_t n = 12, ctx = 16, kv = full.n_head_kv * full.head_dim, qd = full.n_head * full.head_dim;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> q(size_t(n * qd)), k(size_t(n * kv)), v(size_t(n * kv));
  for (auto* vec : {&q, &k, &v})
    for (float& x : *vec) x = nd(rng);
  auto transpose = [&](int64_t from, int64_t count, int64_t stride) {  // keys from..from+count-1
    std::vector<float> t(size_t(kv * stride), 0.0f);
    for (int64_t p = 0; p < count; ++p)
      for (int64_t j = 0; j < kv; ++j) t[size_t(j * stride + p)] = k[size_t((from + p) * kv + j)];
    return t;
  };
  ThreadPool pool(1);
  const auto keys = transpose(0, n, ctx);
  for (int64_t window : {1, 3, 7}) {
    AttentionShape s = full;
    s.window = window;
    std::vector<float> out(size_t(n * qd));
    attention(pool, s, q.data(), keys.data(), ctx, v.data(), 0, n, out.data());
    for (int64_t t = 0; t < n; ++t) {
      // Reference: the same query against a cache that holds only keys t-window+1..t.
      const int64_t lo = std::max<int64_t>(0, t - window + 1), cnt = t - lo + 1;
      const auto part = transpose(lo, cnt, cnt);
      std::vector<float> ref(static_cast<size_t>(qd));
      attention(pool, full, q.data() + t * qd, part.data(), cnt, v.data() + lo * kv, cnt - 1, 1, ref.data());
      EXPECT_EQ(0, std::memcmp(ref.data(), out.data() + t * qd, size_t(qd) * sizeof(float)))
          << "window " << window << " token " << t;
      if (window == 1) {  // one key: the softmax is exactly 1 and the output is that key's value
        for (int64_t h = 0; h < full.n_head; ++h)
          for (int64_t d = 0; d < full.head_dim; ++d)
            EXPECT_EQ(v[size_t(t * kv + (h / 2) * full.head_dim + d)], out[size_t(t * qd + h * full.head_dim + d)]);
      }
    }
  }
}

TEST(Gemma3Ops, GegluIsGgmlsF16RoundedTanhGelu) {
  auto gelu = [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); };
  float worst = 0;
  for (float x = -9.99f; x < 10.0f; x += 0.0137f) {
    const float one = 1.0f, three = 3.0f;
    float y, y3;
    geglu(&x, &one, &y, 1);
    geglu(&x, &three, &y3, 1);
    EXPECT_EQ(y, fp16_to_f32(f32_to_fp16(y))) << "gelu(" << x << ") is an f16 value";
    EXPECT_EQ(y * 3.0f, y3) << "up multiplies the rounded GELU";
    // Input and output rounded to f16: within a few f16 ulps of the exact value.
    const double exact = gelu(double(fp16_to_f32(f32_to_fp16(x))));
    worst = std::max(worst, float(std::fabs(y - exact) / std::max(1e-3, std::fabs(exact))));
  }
  EXPECT_LT(worst, 2e-3f);
  const float xs[4] = {-10.0f, -25.0f, 10.0f, 12.5f}, up[4] = {2, 2, 2, 2};
  float out[4];
  geglu(xs, up, out, 4);
  EXPECT_EQ(0.0f, out[0]);
  EXPECT_EQ(0.0f, out[1]);
  EXPECT_EQ(20.0f, out[2]);
  EXPECT_EQ(25.0f, out[3]);
}

}  // namespace
}  // namespace quantlab
