// llama.cpp's "no such token" in GGUF special-token keys: its tools store LLAMA_TOKEN_NULL (-1) as
// uint32 0xFFFFFFFF (llama-convert-llama2c-to-ggml writes it for the separator and padding ids),
// and its loader keeps the vocabulary's default id for it. quantlab reads such files the same way
// (before, it refused them: "token id 4294967295 outside the vocabulary").
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "io_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// A llama (SentencePiece) vocabulary with the given special-token keys, as the project's writer
// writes it.
fs::path vocab_file(const std::string& name, const std::vector<std::pair<std::string, GgufValue>>& ids) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a"}));
  std::vector<GgufValue> scores, types;
  for (int i = 0; i < 7; ++i) {
    scores.push_back(GgufValue::f32(-float(i)));
    types.push_back(GgufValue::i32(i == 0 ? 2 : i < 3 ? 3 : 1));
  }
  w.set("tokenizer.ggml.scores", GgufValue::array(GgufType::FLOAT32, scores));
  w.set("tokenizer.ggml.token_type", GgufValue::array(GgufType::INT32, types));
  for (const auto& [key, value] : ids) w.set(key, value);
  const fs::path p = test::temp_dir("gguf-token-none") / name;
  w.write(p.string());
  return p;
}

}  // namespace

TEST(GgufTokenNone, ProjectWriterNoneIdsKeepTheDefaults) {
  const fs::path p = vocab_file("none.gguf", {{"tokenizer.ggml.bos_token_id", GgufValue::u32(kNone)},
                                              {"tokenizer.ggml.eos_token_id", GgufValue::u32(2)},
                                              {"tokenizer.ggml.eot_token_id", GgufValue::i32(-1)},
                                              {"tokenizer.ggml.seperator_token_id", GgufValue::u32(kNone)},
                                              {"tokenizer.ggml.padding_token_id", GgufValue::u32(kNone)}});
  const Tokenizer t = Tokenizer::load(p.string());
  EXPECT_EQ(t.vocab().bos_id, 1);  // llama.cpp keeps a SentencePiece vocabulary's default BOS
  EXPECT_EQ(t.vocab().eos_id, 2);
  EXPECT_EQ(t.vocab().eot_id, -1);
  EXPECT_EQ(t.vocab().sep_id, -1);
  EXPECT_EQ(t.vocab().pad_id, -1);
  EXPECT_EQ(t.encode("a", true, false), (std::vector<int32_t>{1, 6}));
  EXPECT_EQ(GgufFile(p.string()).get_token_id("tokenizer.ggml.seperator_token_id"), std::nullopt);
}

TEST(GgufTokenNone, OtherIdsOutsideTheVocabularyStillFail) {
  const fs::path p = vocab_file("bad-sep.gguf", {{"tokenizer.ggml.seperator_token_id", GgufValue::u32(99)}});
  try {
    Tokenizer::load(p.string());
    ADD_FAILURE() << "an id of 99 in a 7-token vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "tokenizer.ggml.seperator_token_id") << e.what();
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
  }
  const fs::path q = vocab_file("bad-eos.gguf", {{"tokenizer.ggml.eos_token_id", GgufValue::u32(kNone - 1)}});
  EXPECT_THROW(Tokenizer::load(q.string()), Error);
}

// The fixture was written by llama.cpp's Python GGUF writer (PyPI gguf; tools/make-gguf-none-id-
// fixture.py) with the keys llama-convert-llama2c-to-ggml writes.
TEST(GgufTokenNone, LlamaCppWrittenModelLoadsAndRuns) {
  const fs::path p = test::source_dir() / "tests/io/fixtures/none_token_ids.gguf";
  const GgufFile f(p.string());
  ASSERT_EQ(f.get_int("tokenizer.ggml.seperator_token_id"), int64_t(kNone));  // the case under test is there
  ASSERT_EQ(f.get_int("tokenizer.ggml.padding_token_id"), int64_t(kNone));
  const Tokenizer t = Tokenizer::load(p.string());
  EXPECT_EQ(t.vocab().sep_id, -1);
  EXPECT_EQ(t.vocab().pad_id, -1);
  EXPECT_EQ(t.vocab().bos_id, 1);
  const Model m = load_model(p.string());
  EXPECT_EQ(m.config.bos_id, 1);
  EXPECT_EQ(m.config.n_vocab, 8);
  ThreadPool pool(1);
  Session s(m, pool);
  const std::vector<int32_t> ids = t.encode("ab a", true, false);
  ASSERT_GE(ids.size(), 2u);
  const auto logits = s.forward_last(ids);
  ASSERT_EQ(logits.size(), 8u);
  for (float x : logits) EXPECT_TRUE(std::isfinite(x));

  // The CLI too: `tokenize` and `generate` read the same file.
  const auto r = test::run_command(test::shell_quote(test::cli_path().string()) + " generate --model " +
                                   test::shell_quote(p.string()) + " --prompt ab --n 3");
  EXPECT_EQ(r.status, 0) << r.err;
}
