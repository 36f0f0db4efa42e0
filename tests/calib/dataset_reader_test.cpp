#include "quantlab/calib/dataset.hpp"
#include "quantlab/core/error.hpp"
#include "test_support.hpp"

#include <fstream>

namespace quantlab::calib {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  auto p = test::temp_dir("calib-ds") / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

// Expects read_dataset to throw an Error whose text contains every one of `parts`.
void expect_error(const std::string& path, std::vector<std::string> parts, const DatasetOptions& opt = {}) {
  try {
    read_dataset(path, opt);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

TEST(DatasetReader, AlpacaJsonArrayKeepsLinesAndJoinsInput) {
  const auto path = write_file("alpaca.json", R"([
  {"instruction": "Translate", "input": "cat", "output": "neko"},
  {"instruction": "Say hi",
   "input": "", "output": "hi"}
])");
  auto ds = read_dataset(path);
  EXPECT_EQ(ds.shape, DatasetShape::Alpaca);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.samples[0].line, 2u);
  EXPECT_EQ(ds.samples[1].line, 3u);
  EXPECT_EQ(ds.samples[0].messages[0].content, "Translate\n\ncat");
  EXPECT_EQ(ds.samples[0].messages[1], (ChatMessage{"assistant", "neko"}));
  EXPECT_EQ(ds.samples[1].messages[0].content, "Say hi");
  EXPECT_EQ(ds.samples[0].fields.at("input"), "cat");
  EXPECT_EQ(ds.sha256.size(), 64u);
}

TEST(DatasetReader, DollyJsonlWithCategory) {
  const auto path = write_file("dolly.jsonl",
                               "{\"instruction\":\"Q1\",\"context\":\"C1\",\"response\":\"R1\",\"category\":\"open_qa\"}\n"
                               "\n"
                               "{\"instruction\":\"Q2\",\"context\":\"\",\"response\":\"R2\",\"category\":\"brainstorming\"}\n");
  auto ds = read_dataset(path);
  EXPECT_EQ(ds.shape, DatasetShape::Dolly);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.samples[1].line, 3u);
  EXPECT_EQ(ds.samples[0].messages[0].content, "Q1\n\nC1");
  EXPECT_EQ(ds.samples[0].category, "open_qa");
  EXPECT_EQ(ds.samples[1].category, "brainstorming");
}

TEST(DatasetReader, OpenAiMessagesWithContentParts) {
  const auto path = write_file("chat.jsonl",
                               R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"日本"},{"type":"image"},{"type":"text","text":"語"}]},{"role":"assistant","content":"はい"}]})"
                               "\n");
  auto ds = read_dataset(path);
  EXPECT_EQ(ds.shape, DatasetShape::Messages);
  ASSERT_EQ(ds.samples[0].messages.size(), 3u);
  EXPECT_EQ(ds.samples[0].messages[1].content, "日本語");
  EXPECT_EQ(ds.samples[0].messages[2].role, "assistant");
}

TEST(DatasetReader, ShareGptMapsSpeakers) {
  const auto path = write_file("sg.json", R"([{"conversations":[{"from":"system","value":"S"},{"from":"human","value":"H"},{"from":"gpt","value":"G"}]}])");
  auto ds = read_dataset(path);
  EXPECT_EQ(ds.shape, DatasetShape::ShareGPT);
  const auto& m = ds.samples[0].messages;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[1].role, "user");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content, "G");
}

TEST(DatasetReader, FieldMappingAndExplicitFormat) {
  const auto path = write_file("qa.jsonl", "{\"question\":\"Why?\",\"answer\":\"Because.\",\"topic\":\"x\"}\n");
  DatasetOptions opt;
  set_mapping_field(opt.mapping, "prompt=question");
  set_mapping_field(opt.mapping, "response=answer");
  set_mapping_field(opt.mapping, "category=topic");
  auto ds = read_dataset(path, opt);
  EXPECT_EQ(ds.shape, DatasetShape::Mapped);
  EXPECT_EQ(ds.samples[0].messages[1].content, "Because.");
  EXPECT_EQ(ds.samples[0].category, "x");
  // An explicit shape overrides detection: these records are not alpaca.
  DatasetOptions alpaca;
  alpaca.shape = DatasetShape::Alpaca;
  expect_error(path, {"qa.jsonl", "line 1", "field 'instruction'", "missing"}, alpaca);
}

TEST(DatasetReader, TextFieldRecordsAreRawText) {
  const auto path = write_file("t.jsonl", "{\"text\":\"alpha\"}\n{\"text\":\"beta\"}\n");
  auto ds = read_dataset(path);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_FALSE(ds.samples[0].is_chat());
  EXPECT_EQ(ds.samples[1].text, "beta");
}

TEST(DatasetReader, PlainTextLinesParagraphsFile) {
  const std::string content = "first line\nsecond line\n\n\nthird\r\n  \nfourth\n";
  const auto path = write_file("p.txt", content);
  auto paras = read_dataset(path);
  ASSERT_EQ(paras.samples.size(), 3u);
  EXPECT_EQ(paras.samples[0].text, "first line\nsecond line");
  EXPECT_EQ(paras.samples[1].line, 5u);
  EXPECT_EQ(paras.samples[2].text, "fourth");
  DatasetOptions lines;
  lines.shape = DatasetShape::TextLines;
  EXPECT_EQ(read_dataset(path, lines).samples.size(), 4u);
  DatasetOptions whole;
  whole.shape = DatasetShape::TextFile;
  auto f = read_dataset(path, whole);
  ASSERT_EQ(f.samples.size(), 1u);
  EXPECT_EQ(f.samples[0].text, content);
}

TEST(DatasetReaderErrors, InvalidJsonNamesLine) {
  expect_error(write_file("bad.jsonl", "{\"text\":\"ok\"}\n{\"text\":\"ok\"}\n{\"text\": oops}\n"),
               {"bad.jsonl", "line 3", "invalid JSON"});
  expect_error(write_file("bad.json", "[\n {\"text\":\"a\"},\n {\"text\":\n   \"b\",}\n]"), {"bad.json", "line 4", "invalid JSON"});
  expect_error(write_file("unterminated.json", "[\n {\"text\":\"a\"},\n {\"text\":\"b\"}\n"), {"unterminated.json", "unterminated"});
}

TEST(DatasetReaderErrors, MissingAndWrongFieldsNameTheField) {
  expect_error(write_file("m1.jsonl", "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"input\":\"\",\"outpt\":\"b\"}\n"),
               {"m1.jsonl", "line 2", "field 'output'", "missing"});
  expect_error(write_file("m2.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":42}]}\n"),
               {"line 1", "messages[0].content", "expected a string"});
  expect_error(write_file("m3.jsonl", "{\"conversations\":[{\"from\":\"bot\",\"value\":\"x\"}]}\n"),
               {"line 1", "conversations[0].from", "unknown speaker 'bot'"});
  expect_error(write_file("m4.jsonl", "{\"messages\":[]}\n"), {"line 1", "field 'messages'", "empty conversation"});
  expect_error(write_file("m5.jsonl", "{\"foo\":1}\n"), {"line 1", "cannot tell the dataset shape", "foo"});
  expect_error(write_file("m6.jsonl", "[1,2]\n"), {"line 1", "expected a JSON object"});
}

TEST(DatasetReaderErrors, EmptySetAndNonUtf8) {
  expect_error(write_file("empty.jsonl", "\n\n"), {"empty.jsonl", "no samples"});
  expect_error(write_file("empty.json", "[]"), {"empty.json", "no samples"});
  expect_error(write_file("empty.txt", "  \n"), {"empty.txt", "no samples"});
  expect_error(write_file("latin1.jsonl", "{\"text\":\"ok\"}\n{\"text\":\"caf\xE9\"}\n"), {"latin1.jsonl", "line 2", "invalid UTF-8", "column 13"});
  expect_error(write_file("latin1.txt", "fine\nna\xEFve\n"), {"latin1.txt", "line 2", "invalid UTF-8"});
  expect_error(write_file("missing-file.jsonl", "") + ".nope", {"cannot open"});
}

}  // namespace
}  // namespace quantlab::calib

namespace quantlab::calib {
namespace {

TEST(DatasetReader, OpenAiEvalsRecordsAreConversationsWithTheIdealAnswer) {
  auto p = test::temp_dir("calib-ds") / "evals.jsonl";
  std::ofstream(p) << R"({"input":[{"role":"system","content":"Answer A-E."},{"role":"user","content":"問1"}],"ideal":["C","c"]})" "\n"
                   << R"({"input":[{"role":"user","content":"Q2"}],"ideal":"B"})" "\n";
  auto ds = read_dataset(p.string());
  EXPECT_EQ(ds.shape, DatasetShape::Mapped);
  ASSERT_EQ(ds.samples.size(), 2u);
  ASSERT_EQ(ds.samples[0].messages.size(), 3u);
  EXPECT_EQ(ds.samples[0].messages[2], (ChatMessage{"assistant", "C"}));
  EXPECT_EQ(ds.samples[1].messages[1].content, "B");
  std::ofstream(p) << R"({"input":[{"role":"user"}],"ideal":"B"})" "\n";
  try {
    read_dataset(p.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input[0].content"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace quantlab::calib
