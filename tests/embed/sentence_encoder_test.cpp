// quantlab's sentence encoder against sentence-transformers 6.3.0 on the `embed` asset
// (all-MiniLM-L6-v2): 120 texts (English Wikipedia sentences, Japanese lines, and edge cases:
// empty, whitespace, a text cut at max_seq_length, an over-long word, emoji, full-width letters).
// Fixture: tools/make-embedding-fixture.py (versions recorded in the fixture).
#include "quantlab/core/error.hpp"
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/safetensors.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

fs::path model_dir() { return test::assets_dir() / "models/all-minilm-l6-v2"; }

std::vector<float> base64_f32(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<uint8_t> bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) continue;  // '=' padding
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(uint8_t(acc >> bits));
    }
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST(SentenceEncoder, MiniLmEmbeddingsEqualSentenceTransformers) {
  QUANTLAB_REQUIRE_FILE(model_dir() / "model.safetensors");
  const nlohmann::json f = read_json_file((test::source_dir() / "tests/embed/fixtures/all-minilm-l6-v2.json").string());
  ThreadPool pool(2);
  const SentenceEncoder enc(model_dir().string(), pool);
  EXPECT_EQ(enc.info().dimension, f.at("dimension").get<int64_t>());
  EXPECT_EQ(enc.info().max_seq_length, f.at("max_seq_length").get<int64_t>());
  EXPECT_EQ(enc.info().pooling, SentencePooling::Mean);
  EXPECT_TRUE(enc.info().normalize);
  const auto& texts = f.at("texts");
  ASSERT_GE(texts.size(), 100u);
  double worst = 1.0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    SCOPED_TRACE("text " + std::to_string(i) + ": " + text.substr(0, 60));
    EXPECT_EQ(int64_t(enc.tokens(text).size()), f.at("tokens")[i].get<int64_t>());
    const std::vector<float> ref = base64_f32(f.at("embeddings_f32_base64")[i].get<std::string>());
    const std::vector<float> got = enc.encode(text);
    ASSERT_EQ(got.size(), ref.size());
    const double cos = cosine_similarity(got, ref);
    worst = std::min(worst, cos);
    EXPECT_GE(cos, 0.9999);
    double max_diff = 0;
    for (size_t c = 0; c < got.size(); ++c) max_diff = std::max(max_diff, double(std::fabs(got[c] - ref[c])));
    EXPECT_LT(max_diff, 1e-4);
  }
  std::printf("lowest cosine similarity to sentence-transformers over %zu texts: %.9f\n", texts.size(), worst);
}

TEST(SentenceEncoder, BitsDoNotDependOnThreadCountOrTheOtherTexts) {
  QUANTLAB_REQUIRE_FILE(model_dir() / "model.safetensors");
  const std::vector<std::string> texts = {"Quantization changes the answers a little.", "", "Die Brücke ist lang.",
                                          std::string(2000, 'a') + " truncated"};
  ThreadPool one(1), three(3);
  const SentenceEncoder a(model_dir().string(), one), b(model_dir().string(), three);
  const auto all = a.encode(texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(all[i], b.encode(texts[i])) << i;
    EXPECT_EQ(all[i], a.encode(texts[i])) << i;
  }
}

TEST(SentenceEncoder, FoldersItCannotRunAreRefusedNamingFileAndField) {
  const fs::path dir = test::temp_dir("encoder-bad");
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 8})";
  test::expect_typed([&] { ThreadPool pool(1); SentenceEncoder(dir.string(), pool); }, (dir / "config.json").string(), "model_type");
  std::ofstream(dir / "config.json") << R"({"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 3, "intermediate_size": 16, "vocab_size": 10, "max_position_embeddings": 8})";
  test::expect_typed([&] { ThreadPool pool(1); SentenceEncoder(dir.string(), pool); }, (dir / "config.json").string(),
                     "num_attention_heads");
  if (fs::exists(model_dir() / "model.safetensors")) {
    // The real folder with a Dense module added: refused, naming modules.json.
    const fs::path copy = test::temp_dir("encoder-dense");
    for (const auto& e : fs::directory_iterator(model_dir()))
      if (e.is_regular_file() || e.is_symlink()) fs::create_symlink(fs::absolute(e.path()), copy / e.path().filename());
    fs::remove(copy / "modules.json");
    std::ofstream(copy / "modules.json")
        << R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
              {"idx": 1, "name": "1", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}])";
    test::expect_typed([&] { ThreadPool pool(1); SentenceEncoder(copy.string(), pool); }, (copy / "modules.json").string(), "type");
    fs::remove_all(copy);
  }
  fs::remove_all(dir);
}

// quantlab embed --compare: the pairs' cosine similarities are the library's, and files of
// different lengths are refused naming the second file.
TEST(SentenceEncoder, EmbedCompareCommand) {
  QUANTLAB_REQUIRE_FILE(model_dir() / "model.safetensors");
  const fs::path dir = test::temp_dir("embed-cli");
  const std::vector<std::string> a = {"The cat sits on the mat.", "Quantized models answer differently."};
  const std::vector<std::string> b = {"A cat is sitting on a mat.", "The weather is nice today."};
  std::ofstream(dir / "a.txt") << a[0] << "\n" << a[1] << "\n";
  std::ofstream(dir / "b.txt") << b[0] << "\r\n" << b[1] << "\r\n";
  std::ofstream(dir / "one.txt") << b[0] << "\n";
  const std::string base = test::cli_path().string() + " embed --threads 2 --model " + test::shell_quote_path(model_dir().string()) +
                           " " + test::shell_quote_path((dir / "a.txt").string());
  const std::string json_path = (dir / "out.json").string();
  ASSERT_EQ(0, std::system((base + " --json --compare " + test::shell_quote_path((dir / "b.txt").string()) + " > " +
                            test::shell_quote_path(json_path)).c_str()));
  const nlohmann::json j = read_json_file(json_path);
  ThreadPool pool(2);
  const SentenceEncoder enc(model_dir().string(), pool);
  ASSERT_EQ(j.at("pairs").size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_DOUBLE_EQ(j["pairs"][i]["cosine"].get<double>(), cosine_similarity(enc.encode(a[i]), enc.encode(b[i])));
  EXPECT_GT(j["pairs"][0]["cosine"].get<double>(), 0.9);  // a paraphrase
  EXPECT_LT(j["pairs"][1]["cosine"].get<double>(), 0.2);  // unrelated
  const std::string err_path = (dir / "err.txt").string();
  EXPECT_NE(0, std::system((base + " --compare " + test::shell_quote_path((dir / "one.txt").string()) + " 2> " +
                            test::shell_quote_path(err_path)).c_str()));
  std::ifstream err(err_path);
  const std::string message((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(message.find("one.txt"), std::string::npos) << message;
  fs::remove_all(dir);
}

// A NaN in a weight matrix is refused at load, naming the file and the tensor (it would otherwise
// make every embedding NaN).
TEST(SentenceEncoder, NonFiniteWeightIsRefusedNamingTheTensor) {
  QUANTLAB_REQUIRE_FILE(model_dir() / "model.safetensors");
  const fs::path copy = test::temp_dir("encoder-nan");
  for (const auto& e : fs::directory_iterator(model_dir()))
    if (e.path().filename() != "model.safetensors" && (e.is_regular_file() || e.is_symlink()))
      fs::create_symlink(fs::absolute(e.path()), copy / e.path().filename());
  fs::copy_file(model_dir() / "model.safetensors", copy / "model.safetensors");
  fs::permissions(copy / "model.safetensors", fs::perms::owner_write, fs::perm_options::add);
  const std::string name = "encoder.layer.3.intermediate.dense.weight";
  uint64_t offset = 0;
  {
    const SafetensorsFile f((copy / "model.safetensors").string());
    const SafetensorsTensor* t = f.find(name);
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->dtype->name, "F32");
    offset = f.data_offset() + t->begin + 4 * 1000;
  }
  {
    std::fstream io(copy / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    io.seekp(std::streamoff(offset));
    io.write(reinterpret_cast<const char*>(&nan), sizeof nan);
  }
  test::expect_typed([&] { ThreadPool pool(1); SentenceEncoder(copy.string(), pool); }, "model.safetensors", name);
  fs::remove_all(copy);
}

TEST(SentenceEncoder, CosineSimilarity) {
  EXPECT_DOUBLE_EQ(cosine_similarity({1, 0}, {2, 0}), 1.0);
  EXPECT_DOUBLE_EQ(cosine_similarity({1, 0}, {0, 3}), 0.0);
  EXPECT_DOUBLE_EQ(cosine_similarity({1, 1}, {-1, -1}), -1.0);
  EXPECT_DOUBLE_EQ(cosine_similarity({0, 0}, {1, 1}), 0.0);
  test::expect_typed([] { cosine_similarity({1, 0}, {1}); }, "cosine similarity", "");
}

}  // namespace
}  // namespace quantlab
