// Token ids against the real libraries: Hugging Face `tokenizers` for Qwen3's tokenizer.json and
// `sentencepiece` for Llama 2's tokenizer.model (fixture made by tools/make-tokenizer-fixtures.py).
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iterator>

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

TEST(ReferenceIds, Llama2SentencePieceModelMatchesSentencePiece) {
  const auto path = test::shared_dir() / "data/tokenizers/llama2/tokenizer.model";
  QUANTLAB_REQUIRE_FILE(path);
  const Tokenizer tok = Tokenizer::load(path.string());
  EXPECT_EQ(tok.vocab_size(), 32000u);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.kind(3), TokenKind::Byte);
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

// The whole WikiText-2 test text (1.3 MB) through both tokenizers, against the libraries' ids
// (kept in the fixture as count + SHA-256), and within a time budget.
TEST(ReferenceIds, WikiText2TestMatchesBothLibraries) {
  const auto wiki = test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw";
  const auto qwen_path = test::shared_dir() / "data/tokenizers/qwen3/tokenizer.json";
  const auto llama_path = test::shared_dir() / "data/tokenizers/llama2/tokenizer.bin";
  QUANTLAB_REQUIRE_FILE(wiki);
  QUANTLAB_REQUIRE_FILE(qwen_path);
  QUANTLAB_REQUIRE_FILE(llama_path);
  const auto fx = fixture()["wikitext2_test"];
  ASSERT_EQ(sha256_file(wiki.string()), fx["file_sha256"].get<std::string>()) << "not the WikiText-2 file the fixture was made from";
  std::ifstream in(wiki, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [key, path] : {std::pair{"qwen3", qwen_path}, std::pair{"llama2", llama_path}}) {
    const Tokenizer tok = Tokenizer::load(path.string());
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ reference] " << key << " wiki.test.raw: " << ids.size() << " tokens in " << seconds << " s\n";
    EXPECT_EQ(ids.size(), fx[key]["count"].get<size_t>()) << key;
    const std::string joined = show(ids);
    EXPECT_EQ(sha256_hex(joined.data(), joined.size()), fx[key]["sha256"].get<std::string>()) << key;
    EXPECT_LT(seconds, 10.0) << key << " (sanitizer builds are slow; a Release build takes well under a second)";
  }
}

// A Qwen2/3 GGUF says only tokenizer.ggml.pre = "qwen2"; llama.cpp then uses its own rewrite of
// the tokenizer.json regex. The same vocabulary through that recipe must give Hugging Face's ids
// (for every sentence NFC leaves alone: the GGUF path has no normalizer, as in llama.cpp).
TEST(ReferenceIds, Qwen2GgufRecipeMatchesTokenizerJsonRegex) {
  const auto path = test::shared_dir() / "data/tokenizers/qwen3/tokenizer.json";
  QUANTLAB_REQUIRE_FILE(path);
  Vocab v = vocab_from_hf_tokenizer_json(path.string());
  v.split_regexes.clear();
  v.pre = "qwen2";
  v.normalize_nfc = false;
  const Tokenizer tok(std::move(v));
  const auto fx = fixture();
  size_t compared = 0;
  for (size_t i = 0; i < fx["sentences"].size(); ++i) {
    if (fx["nfc_changes"][i].get<bool>()) continue;
    const auto want = fx["qwen3"][i].get<std::vector<int32_t>>();
    EXPECT_EQ(show(tok.encode(fx["sentences"][i].get<std::string>(), false, true)), show(want)) << "sentence " << i;
    ++compared;
  }
  EXPECT_GT(compared, 45u);
}

// llama.cpp's "llama3" recipe is a rewrite of Llama 3's tokenizer.json regex (case-insensitive
// contractions spelled out); run both over one byte-level vocabulary: the splits must agree.
TEST(ReferenceIds, Llama3RecipeEqualsTheOriginalRegex) {
  const auto path = test::shared_dir() / "data/tokenizers/qwen3/tokenizer.json";
  QUANTLAB_REQUIRE_FILE(path);
  Vocab recipe = vocab_from_hf_tokenizer_json(path.string());
  recipe.split_regexes.clear();
  recipe.pre = "llama3";
  recipe.ignore_merges = true;
  Vocab original = vocab_from_hf_tokenizer_json(path.string());
  original.split_regexes = {
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
  original.ignore_merges = true;
  const Tokenizer a(std::move(recipe)), b(std::move(original));
  const auto fx = fixture();
  for (size_t i = 0; i < fx["sentences"].size(); ++i) {
    const std::string s = fx["sentences"][i];
    EXPECT_EQ(show(a.encode(s, false, false)), show(b.encode(s, false, false))) << "sentence " << i;
  }
  // Digits go in groups of three: "1234567" is "123" "456" "7".
  std::vector<int32_t> groups;
  for (const char* g : {"123", "456", "7"})
    for (int32_t id : a.encode(g, false, false)) groups.push_back(id);
  EXPECT_EQ(show(a.encode("1234567", false, false)), show(groups));
}

// tokenizer.json paths no shared file covers, against Hugging Face on miniatures trained by the
// fixture script: BERT WordPiece, and SentencePiece-style BPE with byte fallback.
TEST(ReferenceIds, MiniWordPieceTokenizerJsonMatchesHuggingFace) {
  const Tokenizer tok = Tokenizer::load((test::source_dir() / "tests/text/fixtures/mini_wordpiece.json").string());
  EXPECT_EQ(tok.vocab().algorithm, TokenizerAlgorithm::WordPiece);
  const auto fx = fixture();
  for (size_t i = 0; i < fx["sentences"].size(); ++i)
    EXPECT_EQ(show(tok.encode(fx["sentences"][i].get<std::string>(), false, true)),
              show(fx["mini_wordpiece"][i].get<std::vector<int32_t>>()))
        << "sentence " << i;
  const auto with = tok.encode("hello", true, false);
  EXPECT_EQ(with.front(), tok.token_id("[CLS]"));
  EXPECT_EQ(with.back(), tok.token_id("[SEP]"));
}

TEST(ReferenceIds, MiniSentencePieceBpeTokenizerJsonMatchesHuggingFace) {
  const Tokenizer tok = Tokenizer::load((test::source_dir() / "tests/text/fixtures/mini_sentencepiece_bpe.json").string());
  EXPECT_FALSE(tok.vocab().byte_encode);
  EXPECT_TRUE(tok.add_bos());
  expect_all(tok, fixture(), "mini_sentencepiece_bpe", /*parse_special=*/true);
}
