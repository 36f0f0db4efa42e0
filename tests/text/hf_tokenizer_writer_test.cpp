// tokenizer.json written from a GGUF vocabulary: quantlab's own reader and Hugging Face `tokenizers`
// (tools/check_hf_tokenizer.py) load it and give the ids the GGUF tokenizer gives.
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/hf_tokenizer_writer.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

using namespace quantlab;

namespace {

std::filesystem::path chat_model() {
  return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::vector<std::string> texts() {
  std::vector<std::string> out;
  std::ifstream s(test::source_dir() / "assets/tokenizer-sentences.txt");
  for (std::string line; std::getline(s, line);) out.push_back(line);
  std::ifstream w(test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw");
  for (std::string line; std::getline(w, line) && out.size() < 400;) out.push_back(line);
  // Chat markup: added tokens inside text, whitespace around them, digits, code.
  out.push_back("<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n");
  out.push_back("  def f(x):\n\treturn x**2  # 二乗\n\n\n");
  return out;
}

TEST(HfTokenizerWriter, RefusesSentencePieceVocabularies) {
  Vocab v;
  v.source = "test.gguf";
  v.algorithm = TokenizerAlgorithm::SentencePieceBpe;
  v.tokens = {"<unk>", "a"};
  v.kinds = {TokenKind::Unknown, TokenKind::Normal};
  EXPECT_THROW(hf_tokenizer_json(v), Error);
}

TEST(HfTokenizerWriter, GgufVocabularyRoundTripsThroughTokenizerJson) {
  QUANTLAB_REQUIRE_FILE(chat_model());
  const GgufFile f(chat_model().string());
  const Tokenizer gguf_tok(vocab_from_gguf(f));
  const auto dir = test::temp_dir("hf-tokenizer-writer");
  write_hf_tokenizer_files(vocab_from_gguf(f), 8192, dir.string());
  const Tokenizer written = Tokenizer::load((dir / "tokenizer.json").string());
  EXPECT_EQ(written.vocab_size(), gguf_tok.vocab_size());
  EXPECT_EQ(written.add_bos(), gguf_tok.add_bos());
  nlohmann::json expected = nlohmann::json::array();
  for (const std::string& t : texts()) {
    const auto want = gguf_tok.encode(t, false, true);
    EXPECT_EQ(written.encode(t, false, true), want) << t;
    EXPECT_EQ(written.encode(t, true, false), gguf_tok.encode(t, true, false)) << t;
    expected.push_back({{"text", t}, {"ids", want}});
  }
  const auto cfg = nlohmann::json::parse(std::ifstream(dir / "tokenizer_config.json"));
  EXPECT_EQ(cfg["eos_token"], "<|im_end|>");
  EXPECT_FALSE(cfg["chat_template"].get<std::string>().empty());

  // The independent reader.
  if (const std::string why = test::python_missing("tokenizers"); !why.empty()) QUANTLAB_SKIP() << why;
  const auto expected_path = dir / "expected.json";
  std::ofstream(expected_path) << expected.dump();
  const auto r = test::run_command(test::shell_quote(test::python()) + " " + test::shell_quote((test::source_dir() / "tools/check_hf_tokenizer.py").string()) +
                                   " " + test::shell_quote((dir / "tokenizer.json").string()) + " " +
                                   test::shell_quote(expected_path.string()));
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

}  // namespace
