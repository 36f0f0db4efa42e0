// `quantlab eval chat` end to end on the tiny real model with a synthetic template: one JSON object
// whose rates add up; bad input gives one error line naming the file and field, a non-zero exit and
// no --out file.
#include "model/reference_fixture.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace quantlab {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  auto p = test::temp_dir("chat-cli-data") / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

std::filesystem::path tokenizer() { return test::shared_dir() / "models" / "aidreams260K" / "tok512.bin"; }

test::CommandResult run_chat(const std::string& args) {
  const std::string tmpl = write_file("tiny.jinja",
                                      "{% for m in messages %}{{ m.role }}: {{ m.content }}</s>\n{% endfor %}"
                                      "{% if add_generation_prompt %}assistant:{% endif %}");
  const std::string m = test::aidreams_model().string();
  return test::run_command(test::shell_quote(test::cli_path().string()) + " eval chat --model " + m +
                           " --base-model " + m + " --tokenizer " + tokenizer().string() + " --template " + tmpl +
                           " --threads 1 " + args);
}

const char* kChats =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about the cat.\"},{\"role\":\"assistant\",\"content\":\"x\"}]}\n"
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":\"user\",\"content\":\"Where did Lily go?\"}]}\n"
    "{\"messages\":[{\"role\":\"assistant\",\"content\":\"no user here\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"What did Tom find?\"}]}\n";

TEST(EvalChatCli, OneJsonObjectWithRatesThatAddUp) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  const auto out_file = test::temp_dir("chat-cli-out") / "chat.json";
  const test::CommandResult r = run_chat("--data " + write_file("chats.jsonl", kChats) + " --skip-first 1 --max-tokens 16 --after-end 4 --json --out " +
                            out_file.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j, nlohmann::json::parse(test::read_text(out_file)));
  EXPECT_EQ(j["data"]["skipped_first"], 1);
  EXPECT_EQ(j["data"]["no_user_turn"], 1);
  EXPECT_EQ(j["data"]["prompts"], 2);
  ASSERT_EQ(j["prompts"].size(), 2u);
  for (const auto& s : {j["results"]["base"], j["results"]["models"][0]}) {
    EXPECT_EQ(s["replies"], 2);
    EXPECT_DOUBLE_EQ(s["clean_end_rate"].get<double>() + s["new_turn_rate"].get<double>() + s["never_ends_rate"].get<double>(), 1.0);
  }
  // The model is its own base: same replies, nothing diverges.
  EXPECT_NEAR(j["results"]["models"][0]["kld_assistant_tokens"]["mean"].get<double>(), 0.0, 1e-5);
  EXPECT_EQ(j["prompts"][0]["base"]["text"], j["prompts"][0]["models"][0]["text"]);
}

// --embed-model: each reply's sentence-embedding distance to the base's (the model is its own base
// here, so every reply is the base's: cosine 1, L1 0); a folder that is not an encoder fails first.
TEST(EvalChatCli, EmbedModelGivesEachReplysDistanceToTheBase) {
  const auto embed = test::assets_dir() / "models/all-minilm-l6-v2";
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  QUANTLAB_REQUIRE_FILE(embed / "model.safetensors");
  const std::string data = "--data " + write_file("chats.jsonl", kChats) + " --max-tokens 16 --after-end 4 ";
  const test::CommandResult r = run_chat(data + "--json --embed-model " + embed.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["settings"]["embed_model"], embed.string());
  EXPECT_NEAR(j["results"]["models"][0]["mean_cosine_to_base"].get<double>(), 1.0, 1e-6);
  EXPECT_NEAR(j["results"]["models"][0]["mean_l1_to_base"].get<double>(), 0.0, 1e-6);
  for (const auto& p : j["prompts"]) EXPECT_NEAR(p["models"][0]["cosine_to_base"].get<double>(), 1.0, 1e-6);
  EXPECT_FALSE(j["results"]["base"].contains("mean_cosine_to_base"));
  const test::CommandResult bad = run_chat(data + "--embed-model " + test::aidreams_model().string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find(test::aidreams_model().string()), std::string::npos) << bad.err;
}

TEST(EvalChatCli, BadInputIsOneLineAndNoOutputFile) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  const auto out_file = test::temp_dir("chat-cli-out") / "bad.json";
  auto rejected = [&](const std::string& args, const std::vector<std::string>& parts) {
    std::filesystem::remove(out_file);
    const test::CommandResult r = run_chat(args + " --out " + out_file.string());
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
    EXPECT_FALSE(std::filesystem::exists(out_file));
  };
  rejected("--data " + write_file("bad.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":3}]}\n"),
           {"bad.jsonl", "line 1", "content"});
  rejected("--data " + write_file("nouser.jsonl", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"}]}\n"),
           {"nouser.jsonl", "no conversation with a user turn"});
  rejected("--data " + write_file("ok.jsonl", kChats) + " --max-tokens 0", {"--max-tokens"});
}

}  // namespace
}  // namespace quantlab
