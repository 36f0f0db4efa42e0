// llama2.c -> GGUF: the file must be what llama.cpp's own converter writes, read back by PyPI
// gguf, and run by llama.cpp (llama-cpp-python) to the text the model is known to produce.
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "io_test_util.hpp"
#include "pygguf_check.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

struct Aidreams {
  fs::path model = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
  fs::path tokenizer = test::shared_dir() / "models/aidreams260K/tok512.bin";
};

}  // namespace

TEST(Llama2cToGguf, SameBytesAsLlamaCppsConverter) {
  Aidreams a;
  QUANTLAB_REQUIRE_FILE(a.model);
  QUANTLAB_REQUIRE_FILE(a.tokenizer);
  if (auto why = test::python_missing("gguf, numpy"); !why.empty()) QUANTLAB_SKIP() << why;
  Llama2cCheckpoint ck(a.model.string());
  const auto vocab = read_llama2c_tokenizer(a.tokenizer.string(), ck.config().vocab_size);
  const auto dir = test::temp_dir("l2c-gguf");
  const auto out = (dir / "aidreams260K-f32.gguf").string();
  llama2c_to_gguf(ck, vocab).write(out);
  // Reference: llama.cpp 0c1e57098bba (2026-10-01),
  //   llama-convert-llama2c-to-ggml --copy-vocab-from-model tok512.bin
  //     --llama2c-model aidreams260K.bin --llama2c-output-model ref.gguf
  // wrote 1,068,640 bytes with this SHA-256.
  EXPECT_EQ(sha256_file(out), "4bce04b23b28ddcca4c273812eaf5e32a0a301411912c9663597de5e1f67e0e3");

  GgufFile f(out);
  EXPECT_EQ(f.get_int("llama.context_length"), 128);
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_array(out, "").items[260].as_string(out, ""), "es");
  const auto* q = f.find_tensor("blk.2.attn_q.weight");
  ASSERT_NE(q, nullptr);
  const auto* src = ck.find("layers.2.attention.wq.weight");
  EXPECT_EQ(std::memcmp(f.tensor_data(*q), src->data, q->nbytes), 0);
  // Tied classifier: output.weight repeats the embedding.
  EXPECT_EQ(std::memcmp(f.tensor_data(*f.find_tensor("output.weight")), f.tensor_data(*f.find_tensor("token_embd.weight")),
                        size_t(512 * 64 * 4)),
            0);
  // A file with tensors written by llama.cpp's layout round-trips byte for byte.
  const auto again = (dir / "again.gguf").string();
  gguf_writer_from(f).write(again);
  EXPECT_EQ(sha256_file(again), sha256_file(out));
  test::expect_pygguf_agrees(out);
  fs::remove_all(dir);
}

TEST(Llama2cToGguf, LlamaCppRunsTheWrittenFile) {
  Aidreams a;
  QUANTLAB_REQUIRE_FILE(a.model);
  if (auto why = test::python_missing("llama_cpp"); !why.empty()) QUANTLAB_SKIP() << why;
  Llama2cCheckpoint ck(a.model.string());
  const auto dir = test::temp_dir("l2c-llama-cpp");
  const auto out = (dir / "aidreams260K-f32.gguf").string();
  llama2c_to_gguf(ck, read_llama2c_tokenizer(a.tokenizer.string(), 512)).write(out);
  const auto r = test::run_command(test::shell_quote(test::python()) + " " + test::shell_quote((test::source_dir() / "tools/check_llama_cpp.py").string()) + " " +
                                   test::shell_quote(out) + " 24");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_vocab"], 512);
  EXPECT_EQ(j["n_embd"], 64);
  // PROVENANCE.md: an independent numpy forward pass, greedy from BOS, prints this.
  EXPECT_NE(j["greedy_text"].get<std::string>().find("Echoes of vectors unfold, a gentle hum of precision"), std::string::npos)
      << j["greedy_text"];
  fs::remove_all(dir);
}
