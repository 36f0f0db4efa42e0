// `quantlab imatrix --calib` end to end on the real chat model: chat samples go through the model's
// own chat template (the provenance says which), every packing gives a file, and a calibration set
// with nothing usable is refused without writing one.
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace quantlab::calib {
namespace {

// The shared runner of tests/io (stdout and stderr captured apart).
test::CommandResult run_cli(const std::string& args) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " imatrix " + args);
}

std::filesystem::path chat_model() {
  return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::string write_chat_data() {
  auto p = test::temp_dir("imatrix-cli-data") / "chat.jsonl";
  std::ofstream f(p, std::ios::binary);
  for (int i = 0; i < 4; ++i)
    f << R"({"messages": [{"role": "user", "content": "What is )" << i << R"( plus 2?"}, )"
      << R"({"role": "assistant", "content": "It is )" << i + 2 << R"(."}]})" << "\n";
  return p.string();
}

TEST(ImatrixCalibCli, ChatSamplesUseTheModelsTemplateAndAreRecorded) {
  QUANTLAB_REQUIRE_FILE(chat_model());
  const std::string data = write_chat_data();
  for (const std::string packing : {"per-sample", "concat-chunk"}) {
    const auto out = test::temp_dir("imatrix-cli-out") / ("im-" + packing + ".gguf");
    std::filesystem::remove(out);
    const test::CommandResult r = run_cli("--model " + chat_model().string() + " --calib " + data + " --samples 3 --seq-len 32 --packing " +
                             packing + " --threads 1 --out " + out.string() + " --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["input"]["template"]["kind"], "chat-template") << r.out;
    EXPECT_EQ(j["input"]["packing"]["mode"], packing) << r.out;
    EXPECT_EQ(j["input"]["samples_used"], 3) << r.out;
    EXPECT_GT(j["entries"].get<int>(), 0);
    EXPECT_TRUE(std::filesystem::exists(out));
  }
}

TEST(ImatrixCalibCli, NothingUsableWritesNothing) {
  QUANTLAB_REQUIRE_FILE(chat_model());
  const auto empty = test::temp_dir("imatrix-cli-data") / "empty.jsonl";
  std::ofstream(empty, std::ios::binary) << "";
  const auto out = test::temp_dir("imatrix-cli-out") / "never.gguf";
  std::filesystem::remove(out);
  const test::CommandResult r = run_cli("--model " + chat_model().string() + " --calib " + empty.string() + " --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("empty.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace quantlab::calib
