// The real Gemma 3 270M against llama.cpp's own figures (assets/reference.json, made by
// tools/make-reference): token ids of the 50 reference sentences (shipped GGUF's vocabulary), and
// on the F32 dequantization (the file llama-quantize makes; quantlab's dequantization is the same
// bits) WikiText-2 perplexity after 4 chunks of 512 and the 64-token greedy continuations of the
// three prompts. Assets absent: skipped. The perplexity and greedy suites run in Release only.
#include "quantlab/eval/perplexity.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

nlohmann::json gemma_reference() {
  std::ifstream in(test::source_dir() / "assets" / "reference.json");
  return nlohmann::json::parse(in).at("models").at("gemma3-270m");
}

fs::path shipped() { return test::assets_dir() / gemma_reference().at("file").get<std::string>(); }

// The F32 base: the asset cache's derived file when present, else made here from the shipped file.
class Gemma3F32 {
 public:
  Gemma3F32() {
    const fs::path derived = test::assets_dir() / gemma_reference().at("variants").at("f32").at("file").get<std::string>();
    if (fs::exists(derived)) {
      path_ = derived;
    } else if (fs::exists(shipped())) {
      tmp_ = test::temp_dir("gemma3-f32");
      path_ = tmp_ / "gemma3-f32.gguf";
      GgufQuantizeOptions o;
      o.target = parse_gguf_target("F32");
      gguf_quantize(shipped().string(), path_.string(), o);
    }
  }
  ~Gemma3F32() {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_, tmp_;
};

std::vector<int32_t> ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

TEST(Gemma3Tokenizer, SentencesGiveLlamaCppsIds) {
  QUANTLAB_REQUIRE_FILE(shipped());
  const auto ref = gemma_reference().at("tokens").at("sentences");
  const Tokenizer tok = Tokenizer::load(shipped().string());
  ASSERT_EQ(50u, ref.size());
  for (const auto& s : ref) {
    const std::string text = s.at("text").get<std::string>();
    EXPECT_EQ(ids(s.at("ids")), tok.encode(text, false, false)) << text;
  }
}

TEST(Gemma3Slow, F32PerplexityOfFourChunksMatchesLlamaCpp) {
  QUANTLAB_REQUIRE_FILE(shipped());
  const fs::path text = test::assets_dir() / "data/wikitext-2-raw/wiki.test.raw";
  QUANTLAB_REQUIRE_FILE(text);
  const auto ref = gemma_reference().at("variants").at("f32").at("perplexity");
  const Gemma3F32 f32;
  const Model model = load_model(f32.path().string());
  const Tokenizer tok = Tokenizer::load(f32.path().string());
  std::ifstream in(text, std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto tokens = tok.encode(raw, true, false);
  PerplexityOptions o;
  o.n_ctx = ref.at("n_ctx").get<int64_t>();
  o.n_chunks = 4;
  o.add_bos = model.config.add_bos;
  o.bos_id = model.config.bos_id;
  ThreadPool pool(2);
  Session session(model, pool, o.n_ctx);
  const PerplexityResult r = perplexity(session, tokens, o);
  ASSERT_EQ(4u, r.running_ppl.size());
  const auto running = ref.at("running_ppl").get<std::vector<double>>();
  for (size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(running[i], r.running_ppl[i], 1e-3 * running[i]) << "after chunk " << i + 1;
}

TEST(Gemma3Slow, F32GreedyContinuationsMatchLlamaCpp) {
  QUANTLAB_REQUIRE_FILE(shipped());
  const auto runs = gemma_reference().at("variants").at("f32").at("greedy").at("runs");
  const Gemma3F32 f32;
  const Model model = load_model(f32.path().string());
  const Tokenizer tok = Tokenizer::load(f32.path().string());
  ThreadPool pool(2);
  for (const auto& run : runs) {
    const auto in_ids = ids(run.at("ids_in")), want = ids(run.at("ids_out"));
    EXPECT_EQ(in_ids, tok.encode(run.at("prompt").get<std::string>(), true, false));
    Session s(model, pool, int64_t(in_ids.size() + want.size()));
    auto logits = s.forward_last(in_ids);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
      got.push_back(argmax(logits));  // lowest id on ties, as the reference's rule
      logits = s.forward_last({&got.back(), 1});
    }
    EXPECT_EQ(want, got) << run.at("prompt").get<std::string>();
  }
}

}  // namespace
}  // namespace quantlab
