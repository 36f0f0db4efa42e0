// llama.cpp's base-logits format as llama.cpp writes it: a .kld file that llama-perplexity
// --kl-divergence-base made for the tiny model (tests/eval/fixtures/llama_kld/, by
// tools/make-llama-kld-fixture.py) is read by `quantlab eval kld --base F`: the base perplexity is
// llama-perplexity's, the Q4_0 model's statistics against it are llama-perplexity --kl-divergence's
// within the bounds below, and the base model itself scores (almost) no divergence against it.
// The tiny model and its Q4_0 are made here by quantlab, whose converter and quantizer write
// llama.cpp's bytes (checked against the SHA-256 the script recorded).
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = test::source_dir() / "tests/eval/fixtures/llama_kld";

TEST(LlamaKldFile, EvalKldReadsItAndGivesLlamaPerplexitysStatistics) {
  const auto bin = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
  const auto tok = test::shared_dir() / "models/aidreams260K/tok512.bin";
  QUANTLAB_REQUIRE_FILE(bin);
  QUANTLAB_REQUIRE_FILE(tok);
  QUANTLAB_REQUIRE_FILE(test::cli_path());
  std::ifstream in(kFixtures / "llama_perplexity_kld.json");
  const auto fx = nlohmann::json::parse(in);
  const auto& about = fx.at("about");
  const auto kld = kFixtures / about.at("kld_file").get<std::string>();
  ASSERT_EQ(sha256_file(kld.string()), about.at("kld_file_sha256").get<std::string>());

  const auto dir = test::temp_dir("llama-kld");
  const auto model = dir / "aidreams260K.gguf", quant = dir / "q.gguf";
  Llama2cCheckpoint ck(bin.string());
  llama2c_to_gguf(ck, read_llama2c_tokenizer(tok.string(), ck.config().vocab_size)).write(model.string());
  ASSERT_EQ(sha256_file(model.string()), about.at("model_sha256").get<std::string>());
  GgufQuantizeOptions o;
  o.target = parse_gguf_target(about.at("quantized").get<std::string>());
  o.threads = 1;
  gguf_quantize(model.string(), quant.string(), o);

  const auto r = test::run_command(test::shell_quote(test::cli_path().string()) + " eval kld --model " +
                                   test::shell_quote(quant.string()) + " --base " + test::shell_quote(kld.string()) +
                                   " --threads 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("base").at("n_ctx"), about.at("ctx"));
  EXPECT_EQ(j.at("base").at("n_chunks_in_file"), about.at("chunks"));
  const auto& s = fx.at("statistics");
  const auto& res = j.at("results");
  auto llama = [&](const char* name) {
    EXPECT_TRUE(s.contains(name)) << "llama-perplexity printed no '" << name << "'";
    return s.contains(name) ? s.at(name)[0].get<double>() : 0.0;
  };
  // The base side comes from the file alone: llama.cpp's figure to its 6 printed decimals.
  EXPECT_NEAR(res.at("ppl_base").get<double>(), llama("Mean PPL(base)"), 5e-7 * 10);
  // The quantized side is each program's own forward pass: llama.cpp's CPU matmul of Q4_0 weights
  // quantizes the activations to Q8_0 (ggml's vec_dot_q4_0_q8_0), quantlab keeps them in F32, so the
  // logits differ a little; the bounds are the ones tools/gguf-ppl-check.py holds llama.cpp's and
  // quantlab's perplexities to (0.5 %), and one token in 105 for the same-top rate.
  EXPECT_NEAR(res.at("ppl").get<double>() / llama("Mean PPL(Q)"), 1.0, 5e-3);
  EXPECT_NEAR(res.at("ln_ppl_ratio").get<double>(), llama("Mean ln(PPL(Q)/PPL(base))"), 5e-3);
  EXPECT_NEAR(res.at("kld").at("mean").get<double>() / llama("Mean KLD"), 1.0, 0.02);
  EXPECT_NEAR(res.at("kld").at("max").get<double>() / llama("Maximum KLD"), 1.0, 0.03);
  EXPECT_NEAR(res.at("same_top").get<double>() * 100, llama("Same top p"), 100.0 / 105 + 1e-3);
  EXPECT_NEAR(res.at("delta_p").at("rms").get<double>() * 100, llama("RMS Δp"), 0.2);

  // The base model itself against llama.cpp's file: only llama.cpp's F32 arithmetic and the file's
  // 16-bit log-probabilities stand between them.
  const auto self = test::run_command(test::shell_quote(test::cli_path().string()) + " eval kld --model " +
                                      test::shell_quote(model.string()) + " --base " + test::shell_quote(kld.string()) +
                                      " --threads 1 --json");
  ASSERT_EQ(self.status, 0) << self.err;
  const auto same = nlohmann::json::parse(self.out).at("results");
  EXPECT_LT(same.at("kld").at("mean").get<double>(), 1e-4) << same;
  EXPECT_EQ(same.at("same_top").get<double>(), 1.0) << same;
  EXPECT_NEAR(same.at("ppl").get<double>(), same.at("ppl_base").get<double>(), 1e-3 * same.at("ppl_base").get<double>());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace quantlab
