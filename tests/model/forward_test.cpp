// The forward pass on a real model (aidreams260K, llama2.c format) against an independent float64
// numpy implementation (tools/llama2c_reference.py), plus the engine's own invariants: KV-cache
// decode equals prefill, and 1 vs 2 threads give the same bits.
#include "model/reference_fixture.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

namespace quantlab {
namespace {

using test::aidreams_model;
using test::read_reference;

double logsumexp(const float* x, int64_t n) {
  double mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, double(x[i]));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - mx);
  return mx + std::log(s);
}

TEST(Forward, Llama2cCheckpointMatchesNumpyReference) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  ASSERT_EQ(ref.tokens.size(), ref.positions.size());
  const Model model = load_model(aidreams_model());
  EXPECT_EQ(64, model.config.n_embd);
  EXPECT_EQ(4, model.config.n_layer);
  EXPECT_EQ(512, model.config.n_vocab);
  EXPECT_TRUE(model.config.tied_embeddings);
  ThreadPool pool(1);
  Session s(model, pool);
  const auto logits = s.forward(ref.tokens, 0);
  const int64_t V = model.config.n_vocab;
  double worst = 0;
  for (size_t t = 0; t < ref.tokens.size(); ++t) {
    const float* lg = logits.data() + t * size_t(V);
    const auto& p = ref.positions[t];
    EXPECT_EQ(p.argmax, argmax({lg, size_t(V)})) << "position " << t;
    worst = std::max(worst, std::fabs(logsumexp(lg, V) - p.lse));
    for (size_t i = 0; i < ref.probe_ids.size(); ++i)
      worst = std::max(worst, std::fabs(double(lg[ref.probe_ids[i]]) - p.probes[i]));
  }
  EXPECT_LT(worst, 2e-4) << "largest deviation of a logit from the float64 reference";
}

TEST(Forward, GreedyDecodingMatchesNumpyReference) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  const Model model = load_model(aidreams_model());
  ThreadPool pool(2);
  Session s(model, pool);
  Sampler greedy(SamplingParams{});
  const int32_t prompt[1] = {ref.greedy_prompt};
  auto logits = s.forward_last(prompt);
  std::vector<int32_t> out;
  for (size_t i = 0; i < ref.greedy.size(); ++i) {
    out.push_back(greedy.sample(logits));
    const int32_t one[1] = {out.back()};
    logits = s.forward_last(one);
  }
  EXPECT_EQ(ref.greedy, out);
}

TEST(Forward, KvCacheDecodeEqualsPrefill) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  const Model model = load_model(aidreams_model());
  const int64_t V = model.config.n_vocab;
  ThreadPool pool(2);
  Session prefill(model, pool), decode(model, pool);
  const auto all = prefill.forward(ref.tokens, 0);
  const std::vector<float> full(all.begin(), all.end());
  double worst = 0;
  // Decode in uneven pieces: 1 token, then 5, then one by one.
  size_t done = 0;
  auto run = [&](size_t n) {
    const auto lg = decode.forward({ref.tokens.data() + done, n}, 0);
    for (size_t i = 0; i < lg.size(); ++i) worst = std::max(worst, double(std::fabs(lg[i] - full[done * size_t(V) + i])));
    done += n;
  };
  run(1);
  run(5);
  while (done < ref.tokens.size()) run(1);
  EXPECT_LE(worst, 1e-5);
  EXPECT_EQ(0.0, worst) << "decode and prefill follow the same summation order, so they should agree exactly";
}

TEST(Forward, OneAndTwoThreadsGiveIdenticalLogits) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  const Model model = load_model(aidreams_model());
  std::vector<int32_t> long_input;
  for (int i = 0; i < 4; ++i) long_input.insert(long_input.end(), ref.ppl_tokens.begin(), ref.ppl_tokens.end());
  long_input.resize(128);
  ThreadPool p1(1), p2(2), p3(3);
  Session s1(model, p1), s2(model, p2), s3(model, p3);
  const auto a = s1.forward(long_input, 0);
  const auto b = s2.forward(long_input, 0);
  const auto c = s3.forward(long_input, 0);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(a.data(), c.data(), a.size() * sizeof(float)));
}

TEST(Forward, RejectsOverflowAndBadTokens) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const Model model = load_model(aidreams_model());
  ThreadPool pool(1);
  Session s(model, pool, 4);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5}, bad = {1, 512};
  EXPECT_THROW(s.forward(five, 0), Error);
  EXPECT_THROW(s.forward(bad, 0), Error);
  EXPECT_EQ(0, s.position());
}

TEST(Llama2cLoader, TruncatedFileNamesFileAndField) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto dir = test::temp_dir("llama2c");
  const auto path = dir / "truncated.bin";
  {
    std::ifstream in(aidreams_model(), std::ios::binary);
    std::vector<char> buf(100000);
    in.read(buf.data(), std::streamsize(buf.size()));
    std::ofstream(path, std::ios::binary).write(buf.data(), std::streamsize(buf.size()));
  }
  try {
    load_model(path);
    FAIL() << "loaded a truncated checkpoint";
  } catch (const Error& e) {
    EXPECT_EQ(path.string(), e.source());
    EXPECT_EQ("size", e.field());
  }
  {
    const int32_t header[7] = {64, 172, 4, 3, 4, 512, 128};  // 3 heads do not divide 64
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(header), sizeof(header));
  }
  EXPECT_THROW(load_model(path), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quantlab
