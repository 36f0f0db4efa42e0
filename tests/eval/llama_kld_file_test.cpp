// llama.cpp's base-logits format as llama.cpp writes it: a .kld file that llama-perplexity
// --kl-divergence-base made for the tiny model (tests/eval/fixtures/llama_kld/, by
// tools/make-llama-kld-fixture.py) is read by `quantlab eval kld --base F`, and the statistics of the
// Q4_0 model against it are the ones llama-perplexity --kl-divergence printed for the same file.
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
  // llama-perplexity prints 6 decimals (PPL, KLD) or 3 decimals of a percent (Δp, same top).
  auto near = [&](const nlohmann::json& ours, const char* llama, double scale, double decimals) {
    SCOPED_TRACE(llama);
    ASSERT_TRUE(s.contains(llama)) << "llama-perplexity printed no '" << llama << "'";
    EXPECT_NEAR(ours.get<double>() * scale, s.at(llama)[0].get<double>(), 0.5 * std::pow(10.0, -decimals) + 1e-9);
  };
  near(j.at("ppl"), "Mean PPL(Q)", 1, 6);
  near(j.at("ppl_base"), "Mean PPL(base)", 1, 6);
  near(j.at("ln_ppl_ratio"), "Mean ln(PPL(Q)/PPL(base))", 1, 6);
  near(j.at("kld").at("mean"), "Mean KLD", 1, 6);
  near(j.at("kld").at("max"), "Maximum KLD", 1, 6);
  near(j.at("kld").at("median"), "Median KLD", 1, 6);
  near(j.at("same_top"), "Same top p", 100, 3);
  near(j.at("delta_p").at("rms"), "RMS Δp", 100, 3);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace quantlab
