// Layer-by-layer execution against Session::forward on the real tiny model (aidreams260K).
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/model/session.hpp"
#include "test_support.hpp"

#include <cstring>
#include <random>

namespace quantlab {
namespace {

std::string aidreams() { return (test::shared_dir() / "models/aidreams260K/aidreams260K.bin").string(); }

std::vector<int32_t> random_tokens(std::mt19937& rng, int64_t n, int64_t vocab, int32_t bos) {
  std::uniform_int_distribution<int32_t> pick(3, int32_t(vocab - 1));
  std::vector<int32_t> t{bos};
  while (int64_t(t.size()) < n) t.push_back(pick(rng));
  return t;
}

std::vector<float> session_logits(const Model& m, ThreadPool& pool, const std::vector<int32_t>& tokens) {
  Session s(m, pool, int64_t(tokens.size()));
  auto span = s.forward(tokens, 0);
  return {span.begin(), span.end()};
}

std::vector<float> runner_logits(const Model& m, ThreadPool& pool, const std::vector<std::vector<int32_t>>& samples,
                                 int64_t which) {
  LayerRunner r(m.config, pool);
  SampleBatch b = r.embed(m, samples);
  for (int64_t l = 0; l < m.config.n_layer; ++l) r.run_layer(int(l), m.layers[size_t(l)], b);
  std::vector<float> out;
  r.logits(m, b, which, out);
  return out;
}

TEST(LayerRunner, OneSampleIsBitIdenticalToSession) {
  QUANTLAB_REQUIRE_FILE(aidreams());
  const Model m = load_model(aidreams());
  ThreadPool pool(2);
  std::mt19937 rng(7);
  const auto tokens = random_tokens(rng, 100, m.config.n_vocab, m.config.bos_id);
  const auto a = session_logits(m, pool, tokens);
  const auto b = runner_logits(m, pool, {tokens}, 0);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(LayerRunner, SamplesInOneBatchNeverSeeEachOther) {
  QUANTLAB_REQUIRE_FILE(aidreams());
  const Model m = load_model(aidreams());
  ThreadPool pool1(1), pool3(3);
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> samples;
  for (int64_t n : {37, 128, 5, 64}) samples.push_back(random_tokens(rng, n, m.config.n_vocab, m.config.bos_id));
  for (int64_t s = 0; s < int64_t(samples.size()); ++s) {
    const auto alone = session_logits(m, pool1, samples[size_t(s)]);
    const auto batched = runner_logits(m, pool3, samples, s);
    ASSERT_EQ(alone.size(), batched.size());
    EXPECT_EQ(0, std::memcmp(alone.data(), batched.data(), alone.size() * sizeof(float))) << "sample " << s;
  }
}

}  // namespace
}  // namespace quantlab
