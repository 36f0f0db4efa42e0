// A quantized export's config.json with values of the wrong type or numbers that overflow: the
// loader names config.json and the key (it used to let nlohmann's type_error / out_of_range out).
#include "quantlab/core/error.hpp"
#include "quantlab/pipeline/export_hf.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

namespace quantlab::pipeline {
namespace {

nlohmann::json good_config() {
  return {{"model_type", "llama"}, {"hidden_size", 8}, {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
          {"num_key_value_heads", 2}, {"head_dim", 4}, {"vocab_size", 4}, {"max_position_embeddings", 8},
          {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true},
          {"quantization_config", {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 8}, {"sym", true}}},
          {"quantlab_model", {{"source_arch", "llama"}, {"rope_interleaved_in_source", false}, {"add_bos", true}}}};
}

void expect_field(const std::string& text, const std::string& field) {
  SCOPED_TRACE(text.substr(0, 200));
  const auto dir = test::temp_dir("export-config");
  std::ofstream(dir / "config.json") << text;
  // An empty but valid safetensors file: the folder is checked for weights before its config.
  std::ofstream(dir / "model.safetensors", std::ios::binary).write("\x02\0\0\0\0\0\0\0{}", 10);
  try {
    (void)load_quantized_export(dir.string());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), (dir / "config.json").string()) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "foreign exception: " << e.what();
  }
}

TEST(ExportConfigErrors, WrongTypesNameTheKey) {
  auto j = good_config();
  j["quantization_config"]["quant_method"] = 5;
  expect_field(j.dump(), "quantization_config.quant_method");
  j = good_config();
  j["quantization_config"]["bits"] = "4";
  expect_field(j.dump(), "quantization_config.bits");
  j = good_config();
  j["quantization_config"]["bits"] = int64_t(1) << 40;  // beyond int
  expect_field(j.dump(), "quantization_config.bits");
  j = good_config();
  j["hidden_size"] = 8.5;
  expect_field(j.dump(), "hidden_size");
  j = good_config();
  j["quantlab_model"]["add_bos"] = "yes";
  expect_field(j.dump(), "quantlab_model.add_bos");
  j = good_config();
  j["rope_theta"] = "10000";
  expect_field(j.dump(), "rope_theta");
}

TEST(ExportConfigErrors, NumberOverflowNamesTheFile) {
  std::string text = good_config().dump();
  text.replace(text.find("10000.0"), 7, "777e7777");
  expect_field(text, "JSON");
}

}  // namespace
}  // namespace quantlab::pipeline

namespace quantlab::pipeline {
namespace {

// fuzz_export's finding: a GPTQ folder whose g_idx names a group that does not exist made the
// loader read beyond the group parameters. The reproducer (config.json, NUL, model.safetensors)
// must now be refused, naming the tensor.
TEST(ExportConfigErrors, GroupIndexOutOfRangeIsRefused) {
  std::ifstream in(test::source_dir() / "fuzz/corpus/export/regression-g-idx-out-of-range", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t nul = bytes.find('\0');
  ASSERT_NE(nul, std::string::npos);
  const auto dir = test::temp_dir("export-g-idx");
  std::ofstream(dir / "config.json", std::ios::binary) << bytes.substr(0, nul);
  std::ofstream(dir / "model.safetensors", std::ios::binary) << bytes.substr(nul + 1);
  try {
    (void)load_quantized_export(dir.string());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.field().find("g_idx"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace quantlab::pipeline
