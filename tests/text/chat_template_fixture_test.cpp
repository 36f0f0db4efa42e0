// Every real chat template of tests/text/fixtures/chat_templates/ rendered over every conversation
// of chat_template_conversations.json must equal, byte for byte, what jinja2 configured as
// transformers' apply_chat_template produced (tools/make-chat-template-fixtures.py, cross-checked
// with transformers itself by --check-transformers), including the templates' raise_exception messages.
#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template.hpp"
#include "test_support.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace quantlab::text {
namespace {

using nlohmann::ordered_json;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path fixtures() { return test::source_dir() / "tests" / "text" / "fixtures"; }

class ChatTemplateFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateFixture, RendersLikeTransformers) {
  const std::string name = GetParam();
  // The expected texts were rendered on 2026-11-23 (templates that print today's date): pin "now".
  ::setenv("SOURCE_DATE_EPOCH", "1795435200", 1);
  const auto conversations = ordered_json::parse(slurp(fixtures() / "chat_template_conversations.json"));
  const auto expected = ordered_json::parse(slurp(fixtures() / "chat_template_expected.json"));
  ASSERT_TRUE(expected.contains(name)) << "regenerate fixtures: tools/make-chat-template-fixtures.py";
  const auto& ex = expected[name];
  ChatSpecialTokens tokens;
  if (ex["special_tokens"]["bos_token"].is_string()) tokens.bos_token = ex["special_tokens"]["bos_token"].get<std::string>();
  if (ex["special_tokens"]["eos_token"].is_string()) tokens.eos_token = ex["special_tokens"]["eos_token"].get<std::string>();
  const ChatTemplate tmpl(slurp(fixtures() / "chat_templates" / (name + ".jinja")), name, tokens);
  ASSERT_EQ(conversations.size(), ex["results"].size());
  size_t passed = 0;
  for (size_t k = 0; k < conversations.size(); ++k) {
    const auto& c = conversations[k];
    const auto render = [&] {
      return tmpl.apply(c["messages"], c["add_generation_prompt"].get<bool>(), c["extra"],
                        c.contains("tools") ? c["tools"] : ordered_json());
    };
    const auto& want = ex["results"][k];
    SCOPED_TRACE(name + " conversation " + std::to_string(k) + " (" + c["note"].get<std::string>() + ")");
    if (want.contains("error")) {
      try {
        const std::string got = render();
        ADD_FAILURE() << "expected raise_exception(" << want["error"] << "), rendered:\n" << got;
      } catch (const Error& e) {
        if (want["kind"] == "TemplateError") {  // the template's own raise_exception(message)
          EXPECT_EQ(e.field(), "raise_exception") << e.what();
          EXPECT_EQ(e.message(), want["error"].get<std::string>());
          if (e.message() == want["error"].get<std::string>()) ++passed;
        } else {  // a Python error inside an expression (None + str, ...): any error will do
          EXPECT_NE(e.field(), "raise_exception") << e.what();
          ++passed;
        }
      }
      continue;
    }
    try {
      const std::string got = render();
      EXPECT_EQ(got, want["text"].get<std::string>());
      if (got == want["text"].get<std::string>()) ++passed;
    } catch (const Error& e) {
      ADD_FAILURE() << "render failed: " << e.what();
    }
  }
  RecordProperty("passed", static_cast<int>(passed));
  std::printf("[chat-template %s] %zu/%zu conversations match\n", name.c_str(), passed, conversations.size());
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(fixtures() / "chat_templates"))
    if (e.path().extension() == ".jinja") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ChatTemplateFixture, ::testing::ValuesIn(template_names()), param_name);

}  // namespace
}  // namespace quantlab::text
