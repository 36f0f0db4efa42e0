// Behaviour around the algorithms: special tokens, BOS/EOS rules, decoding, loaders' details.
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

using namespace quantlab;

namespace {

std::filesystem::path qwen3() { return test::shared_dir() / "data/tokenizers/qwen3/tokenizer.json"; }
std::filesystem::path llama2_bin() { return test::shared_dir() / "data/tokenizers/llama2/tokenizer.bin"; }
std::filesystem::path vectors(const std::string& name) {
  return test::shared_dir() / ("data/tokenizer-tests/ggml-vocab-" + name + ".gguf");
}

Tokenizer from_gguf(const std::filesystem::path& p) {
  GgufFile f(p.string());
  return Tokenizer(vocab_from_gguf(f));
}

}  // namespace

TEST(TokenizerBehaviour, ControlTokensAreTextUnlessParseSpecial) {
  QUANTLAB_REQUIRE_FILE(qwen3());
  const Tokenizer tok = Tokenizer::load(qwen3().string());
  const int32_t im_start = tok.token_id("<|im_start|>"), im_end = tok.token_id("<|im_end|>");
  ASSERT_GE(im_start, 0);
  const std::string chat = "<|im_start|>user\nHi<|im_end|>";
  const auto parsed = tok.encode(chat, false, true);
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), im_start);
  EXPECT_EQ(parsed.back(), im_end);
  const auto plain = tok.encode(chat, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_start), 0);
  EXPECT_GT(plain.size(), parsed.size());
  EXPECT_EQ(tok.decode(plain), chat);
  EXPECT_EQ(tok.decode(parsed), chat);
  EXPECT_EQ(tok.decode(parsed, /*skip_special=*/true), "user\nHi");
  EXPECT_TRUE(tok.is_end_of_generation(im_end));
  EXPECT_TRUE(tok.is_end_of_generation(tok.token_id("<|endoftext|>")));
  // Non-special added tokens (<think>) split even without parse_special, as in Hugging Face.
  const auto think = tok.encode("a<think>b", false, false);
  EXPECT_NE(std::find(think.begin(), think.end(), tok.token_id("<think>")), think.end());
}

TEST(TokenizerBehaviour, SentencePieceBosAndSpacePrefix) {
  QUANTLAB_REQUIRE_FILE(llama2_bin());
  const Tokenizer tok = Tokenizer::load(llama2_bin().string());
  EXPECT_TRUE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  const auto with = tok.encode("Hello world", true, false);
  const auto without = tok.encode("Hello world", false, false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with[0], 1);
  EXPECT_EQ(tok.token_text(without[0]), "\xE2\x96\x81Hello");
  EXPECT_EQ(tok.decode(with), "<s> Hello world");
  EXPECT_EQ(tok.decode(with, true), "Hello world");
  EXPECT_TRUE(tok.encode("", false, false).empty());
  EXPECT_EQ(tok.encode("", true, false), std::vector<int32_t>{1});
  // "<s>" typed in text is text without parse_special, BOS with it; the text after a special
  // token gets the space prefix again (llama.cpp).
  EXPECT_EQ(tok.encode("<s>Hi", false, true)[0], 1);
  EXPECT_NE(tok.encode("<s>Hi", false, false)[0], 1);
  EXPECT_EQ(tok.encode("<s>Hi", false, true)[1], tok.encode("Hi", false, false)[0]);
  // Byte fallback: a character the vocabulary lacks becomes its UTF-8 bytes <0xXX>.
  const auto ids = tok.encode("\xF0\x9F\xA6\x99", false, false);  // U+1F999
  ASSERT_EQ(ids.size(), 5u);                                        // "▁" + 4 bytes
  EXPECT_EQ(tok.token_text(ids[1]), "<0xF0>");
  EXPECT_EQ(tok.token_piece(ids[1]), "\xF0");
  EXPECT_EQ(tok.decode(ids), "\xF0\x9F\xA6\x99");
}

TEST(TokenizerBehaviour, TinyLlama2cTokenizerRoundTrips) {
  const auto path = test::shared_dir() / "models/aidreams260K/tok512.bin";
  QUANTLAB_REQUIRE_FILE(path);
  const Tokenizer tok = Tokenizer::load(path.string());
  EXPECT_EQ(tok.vocab_size(), 512u);
  EXPECT_EQ(tok.token_text(1), "<s>");
  const std::string text = "Echoes of vectors unfold, a gentle hum of precision.";
  const auto ids = tok.encode(text, true, false);
  EXPECT_EQ(ids[0], 1);
  EXPECT_LT(ids.size(), text.size());  // merges happened
  EXPECT_EQ(tok.decode(ids, true), text);
}

TEST(TokenizerBehaviour, ByteLevelDecodeIsExactForAnyText) {
  QUANTLAB_REQUIRE_FILE(vectors("gpt-2"));
  const Tokenizer tok = from_gguf(vectors("gpt-2"));
  const std::string text = "  Tabs\tand\nnewlines, ünïcödé, 日本語, emoji \xF0\x9F\xA6\x99 and  spaces  ";
  EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.eos_id(), 50256);
  // Invalid UTF-8 is tokenized as U+FFFD (llama.cpp does the same), never rejected or crashed on.
  const auto ids = tok.encode("a\xFF" "b", false, false);
  EXPECT_EQ(tok.decode(ids), "a\xEF\xBF\xBD" "b");
}

TEST(TokenizerBehaviour, WordPieceAddsClsAndSep) {
  QUANTLAB_REQUIRE_FILE(vectors("bert-bge"));
  const Tokenizer tok = from_gguf(vectors("bert-bge"));
  const auto ids = tok.encode("Hello, World!", true, false);
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(tok.decode(ids, true), "hello , world !");
}

TEST(TokenizerBehaviour, PhiThreeSpecialTokensSwallowFollowingSpace) {
  QUANTLAB_REQUIRE_FILE(vectors("phi-3"));
  const Tokenizer tok = from_gguf(vectors("phi-3"));
  const int32_t user = tok.token_id("<|user|>");
  ASSERT_GE(user, 0);
  const auto a = tok.encode("<|user|>\nHi", false, true);
  const auto b = tok.encode("<|user|>Hi", false, true);
  EXPECT_EQ(a, b);  // rstrip: the newline after <|user|> is dropped, as llama.cpp does for Phi-3
  EXPECT_EQ(tok.eot_id(), tok.token_id("<|end|>"));
  EXPECT_EQ(tok.vocab().chat_template.rfind("{{ bos_token }}", 0), 0u);  // tokenizer.chat_template
}

TEST(TokenizerBehaviour, BadIdsAreErrors) {
  QUANTLAB_REQUIRE_FILE(vectors("gpt-2"));
  const Tokenizer tok = from_gguf(vectors("gpt-2"));
  EXPECT_THROW(tok.decode({1, 50257}), Error);
  EXPECT_THROW(tok.token_piece(-1), Error);
  EXPECT_EQ(tok.token_id("no such token text"), -1);
}

// DESIGN.md: identical outputs whatever the thread count. A Tokenizer is shared read-only.
TEST(TokenizerBehaviour, SameIdsFromConcurrentThreads) {
  const auto wiki = test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw";
  QUANTLAB_REQUIRE_FILE(vectors("gpt-2"));
  QUANTLAB_REQUIRE_FILE(wiki);
  const Tokenizer tok = from_gguf(vectors("gpt-2"));
  std::ifstream in(wiki, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.resize(200000);
  const auto single = tok.encode(text, false, false);
  std::vector<std::vector<int32_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = tok.encode(text, false, false); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, single);
}
