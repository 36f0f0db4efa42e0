// The activation hooks: every linear input is reported once per layer with the right shape, and
// the values are the real inputs (layer 0's Q/K/V input is the RMS-normed token embedding).
#include "model/reference_fixture.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/session.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace quantlab {
namespace {

struct Recorder : ActivationObserver {
  struct Seen {
    int layer;
    LinearInput which;
    int64_t tokens, features;
    std::vector<float> x;
  };
  std::vector<Seen> seen;
  void on_linear_input(int layer, LinearInput which, const float* x, int64_t n, int64_t f) override {
    seen.push_back({layer, which, n, f, std::vector<float>(x, x + n * f)});
  }
};

TEST(ActivationObserver, SeesEveryLinearInputWithItsShapeAndValues) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  const Model m = load_model(test::aidreams_model());
  const auto& c = m.config;
  ThreadPool pool(1);
  Session s(m, pool);
  Recorder rec;
  s.set_observer(&rec);
  const std::vector<int32_t> tokens = {1, 43, 456, 445, 484};
  s.forward(tokens, 3);  // logits for the last two tokens only
  ASSERT_EQ(size_t(4 * c.n_layer + 1), rec.seen.size());
  const LinearInput order[4] = {LinearInput::AttnQKV, LinearInput::AttnOutput, LinearInput::FfnGateUp, LinearInput::FfnDown};
  for (int64_t l = 0; l < c.n_layer; ++l)
    for (int k = 0; k < 4; ++k) {
      const auto& e = rec.seen[size_t(4 * l + k)];
      EXPECT_EQ(int(l), e.layer);
      EXPECT_EQ(order[k], e.which);
      EXPECT_EQ(5, e.tokens);
      EXPECT_EQ(order[k] == LinearInput::FfnDown ? c.n_ff : order[k] == LinearInput::AttnOutput ? c.n_head * c.head_dim : c.n_embd,
                e.features);
    }
  EXPECT_EQ(LinearInput::Output, rec.seen.back().which);
  EXPECT_EQ(2, rec.seen.back().tokens);

  // Layer 0's Q/K/V input: rms_norm(embedding) * attn_norm, recomputed independently.
  const auto& first = rec.seen[0];
  const float* emb = static_cast<const float*>(m.token_embd.data);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const float* e = emb + tokens[t] * c.n_embd;
    double ss = 0;
    for (int64_t i = 0; i < c.n_embd; ++i) ss += double(e[i]) * e[i];
    const double inv = 1.0 / std::sqrt(ss / double(c.n_embd) + c.rms_eps);
    for (int64_t i = 0; i < c.n_embd; ++i)
      EXPECT_NEAR(first.x[t * size_t(c.n_embd) + size_t(i)], e[i] * inv * m.layers[0].attn_norm[size_t(i)], 1e-5);
  }
  EXPECT_EQ(std::vector<std::string>({"blk.2.ffn_gate.weight", "blk.2.ffn_up.weight"}),
            linear_input_tensors(2, LinearInput::FfnGateUp));
}

}  // namespace
}  // namespace quantlab
