// Token ids against the real libraries: Hugging Face `tokenizers` for Qwen3's tokenizer.json and
// `sentencepiece` for Llama 2's tokenizer.model (fixture made by tools/make-tokenizer-fixtures.py).
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace quantlab;

namespace {

nlohmann::json fixture() {
  std::ifstream in(test::source_dir() / "tests/text/fixtures/reference_ids.json");
  return nlohmann::json::parse(in);
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

void expect_all(const Tokenizer& tok, const nlohmann::json& fx, const std::string& key, bool parse_special) {
  const auto& sentences = fx["sentences"];
  const auto& expected = fx[key];
  const auto& decoded = fx[key + "_decoded"];
  ASSERT_EQ(sentences.size(), expected.size());
  size_t ok = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const std::string s = sentences[i];
    const auto want = expected[i].get<std::vector<int32_t>>();
    const auto got = tok.encode(s, /*add_special=*/false, parse_special);
    if (got == want) ++ok;
    else ADD_FAILURE() << key << " sentence " << i << " '" << s << "'\n  expected: " << show(want) << "\n  got:      " << show(got);
    EXPECT_EQ(tok.decode(want), decoded[i].get<std::string>()) << key << " decode of sentence " << i;
  }
  std::cout << "[ reference] " << key << ": " << ok << "/" << sentences.size() << " sentences exact\n";
}

}  // namespace

TEST(ReferenceIds, Qwen3TokenizerJsonMatchesHuggingFace) {
  const auto path = test::shared_dir() / "data/tokenizers/qwen3/tokenizer.json";
  QUANTLAB_REQUIRE_FILE(path);
  const Tokenizer tok = Tokenizer::load(path.string());
  EXPECT_EQ(tok.vocab_size(), 151669u);
  EXPECT_EQ(tok.token_text(tok.eot_id()), "<|im_end|>");
  EXPECT_TRUE(tok.is_control(tok.token_id("<|im_start|>")));
  EXPECT_FALSE(tok.add_bos());
  expect_all(tok, fixture(), "qwen3", /*parse_special=*/true);
}

TEST(ReferenceIds, Llama2TokenizerBinMatchesSentencePiece) {
  const auto path = test::shared_dir() / "data/tokenizers/llama2/tokenizer.bin";
  QUANTLAB_REQUIRE_FILE(path);
  const Tokenizer tok = Tokenizer::load(path.string());
  EXPECT_EQ(tok.vocab_size(), 32000u);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  expect_all(tok, fixture(), "llama2", /*parse_special=*/false);
}

// The llama.cpp test vocabulary "llama-spm" is Llama 2's: same ids as SentencePiece.
TEST(ReferenceIds, Llama2GgufVocabMatchesSentencePiece) {
  const auto path = test::shared_dir() / "data/tokenizer-tests/ggml-vocab-llama-spm.gguf";
  QUANTLAB_REQUIRE_FILE(path);
  GgufFile f(path.string());
  const Tokenizer tok(vocab_from_gguf(f));
  expect_all(tok, fixture(), "llama2", /*parse_special=*/false);
}
