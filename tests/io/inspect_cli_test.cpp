// `quantlab inspect` end to end: real files give the figures, bad files one line on stderr and a
// non-zero exit, with nothing on stdout (or, with --json, one error object).
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/safetensors.hpp"
#include "hostile_support.hpp"

#include <sys/stat.h>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

test::CommandResult inspect(const std::string& path, bool json = false) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " inspect " + (json ? "--json " : "") +
                           test::shell_quote(path));
}

std::vector<uint8_t> deep_safetensors() {
  std::string h;
  h.append("{\"x\":");
  h.append(100000, '[');
  h.append(100000, ']');
  h.push_back('}');
  test::Bytes b;
  b.put<uint64_t>(h.size()).raw(h);
  return b.b;
}

size_t lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(InspectCli, Llama2cCheckpoint) {
  const auto path = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
  QUANTLAB_REQUIRE_FILE(path);
  const auto r = inspect(path.string(), true);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "llama2c");
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["tensor_count"], 40);
  EXPECT_EQ(j["total_params"], (932124 - 28) / 4);  // every float of the file after the header
  EXPECT_EQ(j["metadata"]["dim"], 64);
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({512, 64}));
}

TEST(InspectCli, GgufWithTensorsAndSummarizedArrays) {
  const auto dir = test::temp_dir("inspect-gguf");
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  std::vector<std::string> toks;
  for (int i = 0; i < 100; ++i) toks.push_back(std::to_string(i));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(toks));
  w.add_tensor("token_embd.weight", {4, 3}, FormatId::F32, std::vector<uint8_t>(48));
  w.add_tensor("output_norm.weight", {4}, FormatId::F16, std::vector<uint8_t>(8));
  const auto path = (dir / "m.gguf").string();
  w.write(path);
  const auto r = inspect(path, true);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "gguf v3");
  EXPECT_EQ(j["total_params"], 16);
  EXPECT_EQ(j["total_bytes"], 56);
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({3, 4}));  // PyTorch order: ne reversed
  EXPECT_EQ(j["tensors"][1]["dtype"], "f16");
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["length"], 100);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["first"].size(), 8u);
  const auto text = inspect(path);
  ASSERT_EQ(text.status, 0);
  EXPECT_NE(text.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(text.out.find("[string x 100]"), std::string::npos);
  fs::remove_all(dir);
}

TEST(InspectCli, SafetensorsFile) {
  const auto dir = test::temp_dir("inspect-st");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_tensor("lm_head.weight", "BF16", {5, 2}, std::vector<uint8_t>(20));
  const auto path = (dir / "m.safetensors").string();
  w.write(path);
  const auto r = inspect(path, true);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["total_params"], 10);
  EXPECT_EQ(j["metadata"]["__metadata__"]["format"], "pt");
  fs::remove_all(dir);
}

TEST(InspectCli, BadInputsGiveOneLineOnStderrAndNonZeroExit) {
  const auto dir = test::temp_dir("inspect-bad");
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
      {"truncated.gguf", {'G', 'G', 'U', 'F', 3, 0}},
      {"bad-magic.gguf", std::vector<uint8_t>(64, 'x')},
      {"deep.safetensors", deep_safetensors()},
      {"header-too-long.safetensors", test::Bytes().put<uint64_t>(1u << 20).raw("{}").b},
      {"short.bin", std::vector<uint8_t>(10, 1)},
      {"nothing.txt", std::vector<uint8_t>{'h', 'i'}},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    const auto path = (dir / name).string();
    test::write_bytes(path, bytes);
    const auto r = inspect(path);
    EXPECT_NE(r.status, 0);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    const auto rj = inspect(path, true);
    EXPECT_NE(rj.status, 0);
    EXPECT_EQ(lines(rj.err), 1u) << rj.err;
    const auto j = nlohmann::json::parse(rj.out);
    EXPECT_EQ(j["error"]["source"], path);
    EXPECT_FALSE(j["error"]["field"].get<std::string>().empty());
  }
  const auto r = inspect((dir / "absent.gguf").string());
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(lines(r.err), 1u);
  // A FIFO must be refused, not waited on forever.
  const auto fifo = (dir / "fifo.gguf").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto rf = inspect(fifo);
  EXPECT_NE(rf.status, 0);
  EXPECT_EQ(lines(rf.err), 1u) << rf.err;
  EXPECT_THROW(GgufFile{fifo}, Error);
  fs::remove_all(dir);
}
