// Chunked perplexity against the float64 numpy implementation of llama.cpp's procedure
// (tools/llama2c_reference.py), and the CLI's JSON output for the same input.
#include "model/reference_fixture.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/eval/perplexity.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace quantlab {
namespace {

using test::aidreams_model;
using test::read_reference;

TEST(Perplexity, MatchesNumpyReferenceOnAidreams) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  const Model model = load_model(aidreams_model());
  ThreadPool pool(2);
  Session s(model, pool, ref.ppl_ctx);
  PerplexityOptions o;
  o.n_ctx = ref.ppl_ctx;
  o.bos_id = model.config.bos_id;
  const PerplexityResult r = perplexity(s, ref.ppl_tokens, o);
  EXPECT_EQ(4, r.n_chunks);
  EXPECT_EQ(4 * (16 - 1 - 8), r.n_scored);
  EXPECT_NEAR(r.ppl, ref.ppl, 1e-5 * ref.ppl);
  EXPECT_NEAR(r.ppl_stderr, ref.ppl_stderr, 1e-4 * ref.ppl_stderr);
  ASSERT_EQ(4u, r.running_ppl.size());
  EXPECT_DOUBLE_EQ(r.running_ppl.back(), r.ppl);

  o.n_chunks = 2;
  const PerplexityResult two = perplexity(s, ref.ppl_tokens, o);
  EXPECT_EQ(2, two.n_chunks);
  EXPECT_DOUBLE_EQ(two.ppl, r.running_ppl[1]);
}

TEST(Perplexity, NeedsTwoContextsOfTokens) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const Model model = load_model(aidreams_model());
  ThreadPool pool(1);
  Session s(model, pool, 16);
  const std::vector<int32_t> few(31, 5);
  PerplexityOptions o;
  o.n_ctx = 16;
  EXPECT_THROW(perplexity(s, few, o), Error);
}

TEST(Perplexity, TokenNllIsMinusLogSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(token_nll(logits, 0), std::log(z), 1e-7);
  EXPECT_NEAR(token_nll(logits, 2), std::log(z) - 2.0, 1e-7);
}

std::string run_cli(const std::string& args) {
  const std::string cmd = test::cli_path().string() + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (rc != 0) out = "exit " + std::to_string(rc) + ": " + out;
  return out;
}

TEST(EvalPplCli, JsonMatchesLibraryAndReference) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  QUANTLAB_REQUIRE_FILE(test::cli_path());
  const auto tok = test::shared_dir() / "models" / "aidreams260K" / "tok512.bin";
  QUANTLAB_REQUIRE_FILE(tok);
  const auto ref = read_reference();
  const auto dir = test::temp_dir("ppl-cli");
  const auto ids = dir / "ids.txt";
  {
    std::ofstream f(ids);
    for (int32_t t : ref.ppl_tokens) f << t << ' ';
  }
  const std::string out = run_cli("eval ppl --model " + aidreams_model().string() + " --ids " + ids.string() +
                                  " --ctx 16 --threads 2 --json");
  const auto j = nlohmann::json::parse(out);
  EXPECT_NEAR(j.at("ppl").get<double>(), ref.ppl, 1e-5 * ref.ppl);
  EXPECT_EQ(4, j.at("n_chunks").get<int>());
  const std::string gen = run_cli("generate --model " + aidreams_model().string() + " --prompt-ids 1 --n " +
                                  std::to_string(ref.greedy.size()) + " --threads 2 --json");
  EXPECT_EQ(ref.greedy, nlohmann::json::parse(gen).at("ids").get<std::vector<int32_t>>());
  // With the model's own tokenizer the greedy text is the one its provenance records.
  const std::string text = run_cli("generate --model " + aidreams_model().string() + " --tokenizer " + tok.string() +
                                   " --prompt-ids 1 --n 12 --threads 1 --json");
  EXPECT_EQ(0u, nlohmann::json::parse(text).at("text").get<std::string>().rfind("\"Echoes of vectors unfold", 0)) << text;
  const std::string bad = run_cli("eval ppl --model " + aidreams_model().string() + " --ids " + ids.string() + " --ctx 64");
  EXPECT_EQ(0u, bad.rfind("exit ", 0)) << "too few tokens for the context must fail";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quantlab

namespace quantlab {
namespace {

TEST(PerSamplePerplexity, ScoresEveryTokenAfterTheFirstTruncatesAndSkips) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  const auto ref = test::read_reference();
  const Model model = load_model(test::aidreams_model());
  ThreadPool pool(2);
  Session s(model, pool, 16);
  const std::vector<int32_t> a(ref.tokens.begin(), ref.tokens.begin() + 10);
  const std::vector<int32_t> b(ref.ppl_tokens.begin(), ref.ppl_tokens.begin() + 20);  // longer than 16: cut
  const std::vector<std::vector<int32_t>> samples = {a, {1}, b};
  const PerSampleResult r = per_sample_perplexity(s, samples);
  EXPECT_EQ(1, r.n_skipped);
  EXPECT_EQ(1, r.n_truncated);
  EXPECT_EQ(2, r.overall.n_chunks);
  EXPECT_EQ(9 + 15, r.overall.n_scored);
  // Each sample's mean NLL from a fresh session's logits.
  double total = 0;
  for (const auto* smp : {&a, &b}) {
    Session fresh(model, pool, 16);
    const int64_t n = std::min<int64_t>(16, int64_t(smp->size()));
    const auto lg = fresh.forward({smp->data(), size_t(n)}, 0);
    double sum = 0;
    for (int64_t j = 0; j + 1 < n; ++j)
      sum += token_nll(lg.subspan(size_t(j * model.config.n_vocab), size_t(model.config.n_vocab)), (*smp)[size_t(j + 1)]);
    total += sum;
    EXPECT_DOUBLE_EQ(sum / double(n - 1), r.sample_nll[smp == &a ? 0 : 1]);
  }
  EXPECT_NEAR(r.overall.ppl, std::exp(total / 24.0), 1e-9 * r.overall.ppl);
}

}  // namespace
}  // namespace quantlab
