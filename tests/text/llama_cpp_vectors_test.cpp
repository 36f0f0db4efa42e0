// llama.cpp's own tokenizer test vectors (../shared/data/tokenizer-tests): every input of every
// vocabulary must give exactly the expected ids (add_special=false, parse_special=false).
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Inputs: each one is terminated by "\n__ggml_vocab_test__\n" (the file ends with one).
std::vector<std::string> read_inputs(const fs::path& p) {
  const std::string text = read_all(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = text.find(sep, pos);
    if (next == std::string::npos) break;
    out.push_back(text.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

// Expected ids: one line per input, ids separated by spaces (an empty line for no ids).
std::vector<std::vector<int32_t>> read_expected(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

std::vector<fs::path> vocab_files() {
  std::vector<fs::path> out;
  const fs::path dir = test::shared_dir() / "data/tokenizer-tests";
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".gguf") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(LlamaCppVectors, EveryVocabularyEveryInput) {
  const auto files = vocab_files();
  if (files.empty()) QUANTLAB_SKIP() << "input absent: " << test::shared_dir() / "data/tokenizer-tests";
  size_t total = 0, passed = 0;
  for (const auto& path : files) {
    const auto inputs = read_inputs(path.string() + ".inp");
    const auto expected = read_expected(path.string() + ".out");
    ASSERT_GT(inputs.size(), 0u) << path;
    ASSERT_EQ(inputs.size(), expected.size()) << path;
    GgufFile f(path.string());
    const Tokenizer tok(vocab_from_gguf(f));
    size_t ok = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto got = tok.encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
      if (got == expected[i]) {
        ++ok;
      } else {
        ADD_FAILURE() << path.filename() << " input " << i << " '" << inputs[i] << "'\n  expected: " << join(expected[i])
                      << "\n  got:      " << join(got);
      }
    }
    std::cout << "[ vectors  ] " << path.filename().string() << ": " << ok << "/" << inputs.size() << " pass\n";
    total += inputs.size();
    passed += ok;
  }
  std::cout << "[ vectors  ] all vocabularies: " << passed << "/" << total << " pass\n";
  EXPECT_EQ(passed, total);
}
