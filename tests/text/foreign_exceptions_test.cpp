// Numbers that overflow a double (the fuzzer's first finding: `777e7777` in a tokenizer.json made
// nlohmann throw out_of_range straight through the library), JSON values of the wrong type and
// template text that std::sto* cannot read: each reader of the text layer turns them into a
// quantlab::Error naming the file and the field, never another exception type.
#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template.hpp"
#include "quantlab/text/jinja.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

fs::path write_file(const fs::path& dir, const std::string& name, const std::string& bytes) {
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

using test::expect_typed;

const char* kTinyBpe =
    R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"added_tokens":[],)"
    R"("pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}})";

}  // namespace

TEST(ForeignExceptions, TokenizerJsonNumberOverflowIsTyped) {
  const fs::path dir = test::temp_dir("foreign-tok");
  // The fuzzer's reproducer and its relatives: overflow anywhere in the file, negative overflow,
  // an overflowing id where an integer is expected.
  for (const char* text : {R"({"model":{"type":"BPE","vocab":{"a":777e7777},"merges":[]}})",
                           R"({"version":-1e999,"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})",
                           R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[],"dropout":1e400}})"}) {
    SCOPED_TRACE(text);
    const auto p = write_file(dir, "tokenizer.json", text);
    expect_typed([&] { (void)vocab_from_hf_tokenizer_json(p.string()); }, p.string(), "json");
    expect_typed([&] { (void)Tokenizer::load(p.string()); }, p.string(), "json");
  }
  // A huge integer id parses (as a float) and is refused as not an integer.
  const auto p = write_file(dir, "tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":123456789012345678901234567890},"merges":[]}})");
  expect_typed([&] { (void)vocab_from_hf_tokenizer_json(p.string()); }, p.string(), "model.vocab");
}

TEST(ForeignExceptions, TokenizerConfigOverflowAndPostProcessorShapes) {
  const fs::path dir = test::temp_dir("foreign-tokcfg");
  const auto tok = write_file(dir, "tokenizer.json", kTinyBpe);
  const auto cfg = write_file(dir, "tokenizer_config.json", R"({"add_bos_token": true, "model_max_length": 1e99999})");
  expect_typed([&] { (void)vocab_from_hf_tokenizer_json(tok.string(), cfg.string()); }, cfg.string(), "json");
  // BertProcessing's cls/sep must be [token, id] pairs; `.at(1)` used to throw out_of_range.
  for (const char* post : {R"({"type":"BertProcessing","cls":["a"],"sep":["b",1]})",
                           R"({"type":"RobertaProcessing","cls":"a","sep":["b",1]})"}) {
    SCOPED_TRACE(post);
    const auto p = write_file(dir, "post.json",
                              std::string(R"({"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[]},)")
                                  + R"("pre_tokenizer":{"type":"ByteLevel"},"post_processor":)" + post + "}");
    expect_typed([&] { (void)vocab_from_hf_tokenizer_json(p.string()); }, p.string(), "post_processor.cls");
  }
}

TEST(ForeignExceptions, ChatTemplateConfigIsTyped) {
  const fs::path dir = test::temp_dir("foreign-chat");
  const auto overflow = write_file(dir, "overflow.json", R"({"chat_template": "x", "model_max_length": 777e7777})");
  expect_typed([&] { (void)text::ChatTemplate::from_tokenizer_config(overflow.string()); }, overflow.string(), "JSON");
  // A list of named templates whose entries are not objects, or whose template is not a string.
  const auto list = write_file(dir, "list.json", R"({"chat_template": [1, "two"]})");
  expect_typed([&] { (void)text::ChatTemplate::from_tokenizer_config(list.string()); }, list.string(), "chat_template");
  const auto tmpl = write_file(dir, "tmpl.json", R"({"chat_template": [{"name": "default", "template": 5}]})");
  expect_typed([&] { (void)text::ChatTemplate::from_tokenizer_config(tmpl.string()); }, tmpl.string(), "chat_template");
}

TEST(ForeignExceptions, TemplateNumbersThatStdStoCannotRead) {
  // A \x escape without hex digits (std::stoul threw invalid_argument).
  expect_typed([] { text::JinjaTemplate t("{{ '\\xzz' }}", "esc"); }, "esc", "line 1");
  // A list index or format field beyond any integer (std::stoll / std::stoul threw out_of_range).
  const text::JinjaTemplate index("{{ [1, 2].99999999999999999999 }}", "index");
  expect_typed([&] { (void)index.render(nlohmann::ordered_json::object()); }, "index", "line 1");
  const text::JinjaTemplate field("{{ '{99999999999999999999}'.format(1) }}", "field");
  expect_typed([&] { (void)field.render(nlohmann::ordered_json::object()); }, "field", "line 1");
  // In range they still work.
  EXPECT_EQ(text::JinjaTemplate("{{ [1, 2].1 }}{{ '{0}-{1}'.format(3, 4) }}{{ '\\x41' }}").render(nlohmann::ordered_json::object()),
            "23-4A");
}
