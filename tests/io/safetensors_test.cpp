#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/safetensors.hpp"
#include "quantlab/io/tensor_source.hpp"
#include "io_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}

// A file with every dtype, a scalar and an empty tensor.
SafetensorsWriter every_dtype_writer() {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("quantlab.note", "caf\xc3\xa9");
  uint8_t seed = 1;
  for (const auto& d : safetensors_dtypes()) {
    const std::vector<int64_t> shape = {2, 3};
    w.add_tensor("t." + std::string(d.name), d.name, shape, pattern(6 * d.bytes, seed++));
  }
  w.add_tensor("scalar", "F32", {}, pattern(4, 99));
  w.add_tensor("empty", "BF16", {0, 5}, std::vector<uint8_t>{});
  return w;
}

}  // namespace

TEST(Safetensors, WriterOutputReadsBack) {
  const auto dir = test::temp_dir("st-rw");
  const auto path = (dir / "m.safetensors").string();
  every_dtype_writer().write(path);
  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("quantlab.note"), "caf\xc3\xa9");
  EXPECT_EQ(f.data_offset() % 8, 0u);
  ASSERT_EQ(f.tensors().size(), safetensors_dtypes().size() + 2);
  uint8_t seed = 1;
  for (const auto& d : safetensors_dtypes()) {
    const auto* t = f.find("t." + std::string(d.name));
    ASSERT_NE(t, nullptr) << d.name;
    EXPECT_EQ(t->dtype, &d);
    EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
    const auto want = pattern(6 * d.bytes, seed++);
    ASSERT_EQ(t->nbytes(), want.size());
    EXPECT_EQ(std::memcmp(f.data(*t), want.data(), want.size()), 0) << d.name;
  }
  EXPECT_TRUE(f.find("scalar")->shape.empty());
  EXPECT_EQ(f.find("empty")->nbytes(), 0u);
  fs::remove_all(dir);
}

TEST(Safetensors, ReferenceImplementationReadsWhatTheWriterMakes) {
  if (auto why = test::python_missing("safetensors, numpy"); !why.empty()) QUANTLAB_SKIP() << why;
  const auto dir = test::temp_dir("st-py");
  const auto path = (dir / "m.safetensors").string();
  every_dtype_writer().write(path);
  const auto r = test::run_command(test::shell_quote(test::python()) + " " + test::shell_quote((test::source_dir() / "tools/check_safetensors.py").string()) +
                                   " describe " + test::shell_quote(path));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto py = nlohmann::json::parse(r.out);
  SafetensorsFile f(path);
  EXPECT_EQ(py["metadata"], nlohmann::json(f.metadata()));
  ASSERT_EQ(py["tensors"].size(), f.tensors().size());
  for (const auto& pt : py["tensors"]) {
    const auto* t = f.find(pt["name"].get<std::string>());
    ASSERT_NE(t, nullptr) << pt["name"];
    EXPECT_EQ(pt["shape"], nlohmann::json(t->shape));
    EXPECT_EQ(pt["sha256"], sha256_hex(f.data(*t), t->nbytes())) << t->name;
  }
  fs::remove_all(dir);
}

TEST(Safetensors, ReadsAFileWrittenByTheReferenceImplementation) {
  if (auto why = test::python_missing("safetensors, numpy"); !why.empty()) QUANTLAB_SKIP() << why;
  const auto dir = test::temp_dir("st-ref");
  const auto path = (dir / "ref.safetensors").string();
  const auto r = test::run_command(test::shell_quote(test::python()) + " " + test::shell_quote((test::source_dir() / "tools/check_safetensors.py").string()) +
                                   " make " + test::shell_quote(path));
  ASSERT_EQ(r.status, 0) << r.err;
  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "np");
  const auto* e = f.find("model.embed.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype->name, "F32");
  EXPECT_EQ(e->shape, (std::vector<int64_t>{3, 4}));
  float v[12];
  std::memcpy(v, f.data(*e), sizeof v);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(v[i], float(i) / 8);
  const auto* ids = f.find("ids");
  int64_t x[4];
  std::memcpy(x, f.data(*ids), sizeof x);
  EXPECT_EQ(x[3], int64_t(1) << 40);
  EXPECT_EQ(f.find("mask")->dtype->name, "BOOL");
  EXPECT_TRUE(f.find("scalar")->shape.empty());
  EXPECT_EQ(f.find("empty")->shape, (std::vector<int64_t>{0, 4}));
  fs::remove_all(dir);
}

TEST(Safetensors, ShardedCheckpointAndHuggingFaceFolder) {
  const auto dir = test::temp_dir("st-hf");
  SafetensorsWriter a, b;
  a.add_tensor("model.embed_tokens.weight", "F32", {4, 2}, pattern(32, 1));
  a.add_tensor("model.layers.0.mlp.up_proj.weight", "BF16", {3, 2}, pattern(12, 2));
  b.add_tensor("model.norm.weight", "F16", {2}, pattern(4, 3));
  a.write((dir / "model-00001-of-00002.safetensors").string());
  b.write((dir / "model-00002-of-00002.safetensors").string());
  test::write_text(dir / "model.safetensors.index.json", R"({"metadata": {"total_size": 48}, "weight_map": {
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors",
    "model.norm.weight": "model-00002-of-00002.safetensors"}})");
  test::write_text(dir / "config.json", R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 2, "num_hidden_layers": 1, "rms_norm_eps": 1e-5, "tie_word_embeddings": false})");
  test::write_text(dir / "generation_config.json", R"({"bos_token_id": 1, "eos_token_id": [2, 3]})");
  test::write_text(dir / "tokenizer_config.json", R"({"add_bos_token": true, "bos_token": "<s>"})");
  test::write_text(dir / "tokenizer.json", R"({"model": {"type": "BPE"}})");

  const HfModelDir hf = read_hf_model_dir(dir.string());
  EXPECT_EQ(hf.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(hf.model_type(), "llama");
  EXPECT_EQ(json_int(hf.config.json, "hidden_size", hf.config.path), 2);
  EXPECT_DOUBLE_EQ(json_number(hf.config.json, "rms_norm_eps", hf.config.path), 1e-5);
  EXPECT_FALSE(json_bool(hf.config.json, "tie_word_embeddings", hf.config.path));
  EXPECT_EQ(json_int(hf.config.json, "num_key_value_heads", hf.config.path, 7), 7);
  ASSERT_TRUE(hf.generation_config);
  EXPECT_EQ(json_int(hf.generation_config->json, "bos_token_id", hf.generation_config->path), 1);
  ASSERT_TRUE(hf.tokenizer_config && hf.tokenizer_json);
  EXPECT_FALSE(hf.tokenizer_model);
  try {
    json_int(hf.config.json, "model_type", hf.config.path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), (dir / "config.json").string());
    EXPECT_EQ(e.field(), "model_type");
  }

  SafetensorsSource src(dir.string());
  EXPECT_EQ(src.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(src.checkpoint().files().size(), 2u);
  ASSERT_EQ(src.tensors().size(), 3u);
  const auto& norm = src.get("model.norm.weight");
  EXPECT_EQ(norm.format, FormatId::F16);
  EXPECT_EQ(std::memcmp(norm.data, pattern(4, 3).data(), 4), 0);
  EXPECT_EQ(src.get("model.layers.0.mlp.up_proj.weight").shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(open_weight_source(dir.string())->kind(), "safetensors");

  // An index naming a tensor its shard lacks is refused, naming the index and the tensor.
  test::write_text(dir / "model.safetensors.index.json", R"({"weight_map": {"missing.weight": "model-00002-of-00002.safetensors"}})");
  try {
    SafetensorsCheckpoint c(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), (dir / "model.safetensors.index.json").string());
    EXPECT_EQ(e.field(), "weight_map 'missing.weight'");
  }
  fs::remove_all(dir);
}

TEST(Safetensors, WriterRefusesInconsistentTensorsAndLeavesNoFile) {
  const auto dir = test::temp_dir("st-bad");
  const auto path = dir / "bad.safetensors";
  SafetensorsWriter w;
  w.add_tensor("a", "F32", {2, 2}, pattern(12, 0));
  EXPECT_THROW(w.write(path.string()), Error);
  SafetensorsWriter w2;
  w2.add_tensor("a", "F5", {1}, pattern(1, 0));
  EXPECT_THROW(w2.write(path.string()), Error);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);
  fs::remove_all(dir);
}
