// `quantlab calib inspect` end to end: malformed input gives one error line naming the file, the
// line and the field, a non-zero exit, and no output file.
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace quantlab::calib {
namespace {

// The shared runner of tests/io (stdout and stderr captured apart).
test::CommandResult run_cli(const std::string& args) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " calib inspect " + args);
}

std::string write_file(const std::string& name, const std::string& content) {
  auto p = test::temp_dir("calib-cli-data") / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

void expect_rejected(const std::string& args, const std::vector<std::string>& parts) {
  const auto out_file = test::temp_dir("calib-cli-out") / "report.json";
  std::filesystem::remove(out_file);
  const test::CommandResult r = run_cli(args + " --out " + out_file.string());
  EXPECT_NE(r.status, 0) << args;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_file)) << "a failed run wrote " << out_file;
}

TEST(CalibInspectCli, MalformedInputNamesFileLineField) {
  expect_rejected(write_file("bad.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\" \"c\"}\n"), {"bad.jsonl", "line 3", "invalid JSON"});
  expect_rejected(write_file("missing.json", "[\n{\"instruction\":\"a\",\"output\":\"b\"},\n{\"instruction\":\"a\"}\n]"),
                  {"missing.json", "line 3", "field 'output'", "missing"});
  expect_rejected(write_file("empty.jsonl", ""), {"empty.jsonl", "no samples"});
  expect_rejected(write_file("latin1.txt", "ok\ncaf\xE9\n"), {"latin1.txt", "line 2", "invalid UTF-8"});
  // A template that fails to render names the sample and the template's own message.
  const auto tmpl = write_file("strict.jinja", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok");
  expect_rejected(write_file("sys.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}\n"
                                          "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"q\"}]}\n") +
                      " --template " + tmpl,
                  {"sys.jsonl:2", "System role not supported"});
  const auto broken = write_file("broken.jinja", "{% for m in messages %}{{ m.content }}");
  expect_rejected(write_file("one.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}\n") + " --template " + broken,
                  {"broken.jinja", "line 1", "endfor"});
  expect_rejected(write_file("ok.jsonl", "{\"text\":\"a\"}\n") + " --packing chunks", {"--packing", "chunks"});
}

TEST(CalibInspectCli, ReportsAsTextAndJson) {
  const auto data = write_file("alpaca.json",
                               "[{\"instruction\":\"日本の首都は？\",\"input\":\"\",\"output\":\"東京です。\"},"
                               "{\"instruction\":\"Say hi\",\"input\":\"\",\"output\":\"hi\"}]");
  const auto tmpl = write_file("chatml.jinja",
                               "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                               "'<|im_end|>' + '\\n'}}{% endfor %}");
  const auto out_file = test::temp_dir("calib-cli-out") / "ok.json";
  const test::CommandResult r = run_cli(data + " --template " + tmpl + " --json --out " + out_file.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"]["total"], 2);
  EXPECT_EQ(j["languages"]["ja"], 1);
  EXPECT_EQ(j["end_of_turn"]["text"], "<|im_end|>");
  EXPECT_EQ(j["provenance"]["dataset"]["format"], "alpaca");
  EXPECT_EQ(j["provenance"]["dataset"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(nlohmann::json::parse(test::read_text(out_file))["samples"], j["samples"]);
  const test::CommandResult t = run_cli(data);
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("samples: 2"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace quantlab::calib
