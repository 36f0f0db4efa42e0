#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

using namespace quantlab;

TEST(GgufReader, ReadsLlamaTokenizerTestVocab) {
  const auto path = test::shared_dir() / "data/tokenizer-tests/ggml-vocab-llama-spm.gguf";
  QUANTLAB_REQUIRE_FILE(path);
  GgufFile f(path.string());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  const auto& tokens = f.get("tokenizer.ggml.tokens").as_array(f.path(), "tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.items.size(), 32000u);
  EXPECT_EQ(tokens.items[1].as_string(f.path(), "t"), "<s>");
}

TEST(GgufReader, RejectsNonGguf) {
  const auto path = test::shared_dir() / "data/tokenizers/llama2/tokenizer.model";
  QUANTLAB_REQUIRE_FILE(path);
  try {
    GgufFile f(path.string());
    FAIL() << "accepted a non-GGUF file";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "magic");
  }
}
