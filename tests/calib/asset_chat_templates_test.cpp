// The chat models of assets/README.md: the template in each model file must be one of the
// reference templates (tests/text/fixtures/chat_templates), so the byte-exact fixture test covers
// what these models render. Skips where the asset is not installed (tools/fetch-assets).
#include "quantlab/calib/model_template.hpp"
#include "test_support.hpp"

#include <fstream>
#include <sstream>

namespace quantlab::calib {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct AssetTemplate {
  const char* gguf;      // under the asset cache
  const char* fixture;   // tests/text/fixtures/chat_templates/<fixture>.jinja ("" : base model, no template)
  const char* eos;
};

class AssetChatTemplate : public ::testing::TestWithParam<AssetTemplate> {};

TEST_P(AssetChatTemplate, IsAReferenceTemplate) {
  const auto& p = GetParam();
  const auto path = test::assets_dir() / p.gguf;
  QUANTLAB_REQUIRE_FILE(path);
  const auto t = load_model_chat_template(path.string());
  if (std::string(p.fixture).empty()) {
    EXPECT_FALSE(t.has_value()) << "a base model file now carries a chat template";
    return;
  }
  ASSERT_TRUE(t.has_value());
  const auto fixture = test::source_dir() / "tests" / "text" / "fixtures" / "chat_templates" / (std::string(p.fixture) + ".jinja");
  EXPECT_EQ(t->source(), slurp(fixture)) << p.gguf << " differs from " << fixture;
  EXPECT_EQ(t->tokens().eos_token.value_or(""), p.eos);
}

INSTANTIATE_TEST_SUITE_P(
    Assets, AssetChatTemplate,
    ::testing::Values(
        AssetTemplate{"models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", "<|im_end|>"},
        AssetTemplate{"models/qwen2.5-coder-0.5b-instruct-awq-q4_k_m/qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf", "qwen2.5", "<|im_end|>"},
        AssetTemplate{"models/qwen2.5-coder-1.5b-instruct-q4_k_m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "qwen2.5-coder", "<|im_end|>"},
        AssetTemplate{"models/gemma3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf", "", ""}),
    [](const ::testing::TestParamInfo<AssetTemplate>& info) {
      std::string s = info.param.gguf;
      s = s.substr(7, s.find('/', 7) - 7);
      for (auto& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return s;
    });

}  // namespace
}  // namespace quantlab::calib
