// Calibration inputs with numbers that overflow a double and values of the wrong JSON type: every
// dataset format and the model's chat template give a quantlab::Error naming the file and the
// line or field, never nlohmann's or std::filesystem's exception.
#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/model_template.hpp"
#include "quantlab/core/error.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

namespace quantlab::calib {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  auto p = test::temp_dir("calib-foreign") / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

using test::expect_typed;

TEST(ForeignExceptions, DatasetNumberOverflowNamesTheLine) {
  // JSON lines: the overflow on line 2 (after a blank line), in every JSON format.
  for (const char* shape : {"auto", "alpaca", "dolly", "messages", "sharegpt", "mapped"}) {
    SCOPED_TRACE(shape);
    DatasetOptions o;
    o.shape = parse_shape(shape);
    if (o.shape == DatasetShape::Mapped) set_mapping_field(o.mapping, "prompt=instruction");
    const auto jsonl = write_file("overflow.jsonl", std::string("\n") + R"({"instruction": "x", "weight": 777e7777})" + "\n");
    expect_typed([&] { (void)read_dataset(jsonl, o); }, jsonl, "line 2");
    // A JSON array: the element starting on line 3.
    const auto json = write_file("overflow.json", std::string("[\n\n") + R"({"instruction": -1e999})" + "\n]");
    expect_typed([&] { (void)read_dataset(json, o); }, json, "line 3");
  }
}

TEST(ForeignExceptions, DatasetFieldsOfTheWrongTypeNameTheLine) {
  // Values where strings are expected, in each record shape; whatever the shape reader checks or
  // not, what leaves is a quantlab::Error naming the line.
  for (const char* record : {R"({"messages": [{"role": "user", "content": 5}]})",
                             R"({"messages": [{"role": ["user"], "content": "x"}]})",
                             R"({"conversations": [{"from": 1, "value": "x"}]})",
                             R"({"conversations": "no"})",
                             R"({"instruction": {"a": 1}, "output": "b"})",
                             R"({"instruction": "a", "context": 1e5, "response": "b", "category": []})"}) {
    SCOPED_TRACE(record);
    const auto path = write_file("types.jsonl", std::string("\n") + record + "\n");
    expect_typed([&] { (void)read_dataset(path); }, path, "line 2");
  }
}

TEST(ForeignExceptions, ModelChatTemplateIsTyped) {
  const auto dir = test::temp_dir("calib-foreign-model");
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "{{ x }}", "bos_token": 1e400})";
  const std::string cfg = (dir / "tokenizer_config.json").string();
  expect_typed([&] { (void)load_model_chat_template(dir.string()); }, cfg, "JSON");
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": [{"name": 7}]})";
  expect_typed([&] { (void)load_model_chat_template(dir.string()); }, cfg, "chat_template");
  // A path no file system accepts (a name longer than NAME_MAX) names itself.
  const std::string too_long = (dir / (std::string(300, 'x') + ".gguf")).string();
  expect_typed([&] { (void)load_model_chat_template(too_long); }, too_long, "");
}

}  // namespace
}  // namespace quantlab::calib
