// `quantlab eval answers` end to end on the tiny real model (a synthetic chat template): a copy of
// the base file as the "quantized" model gives distance 0 to the base at equal seeds while the
// base's own seed-to-seed baseline is not 0; every reply is stored and a rerun with --reuse
// generates nothing and gives the same numbers; bad input is one line naming the file and field,
// with nothing written.
#include "model/reference_fixture.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

std::string write_file(const std::string& dir, const std::string& name, const std::string& content) {
  auto p = test::temp_dir(dir) / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

fs::path tokenizer() { return test::shared_dir() / "models" / "aidreams260K" / "tok512.bin"; }

const char* kPrompts =
    "{\"id\":\"cat\",\"question\":\"Tell me about the cat.\",\"answer\":\"The cat sat on the mat.\"}\n"
    "{\"id\":\"lily\",\"question\":\"Where did Lily go?\",\"answer\":\"Lily went to the park.\"}\n"
    "{\"id\":\"tom\",\"question\":\"What did Tom find?\"}\n";

test::CommandResult run_answers(const std::string& model, const std::string& data, const std::string& args,
                                int threads = 1) {
  const std::string tmpl = write_file("answers-cli", "tiny.jinja",
                                      "{% for m in messages %}{{ m.role }}: {{ m.content }}</s>\n{% endfor %}"
                                      "{% if add_generation_prompt %}assistant:{% endif %}");
  return test::run_command(test::shell_quote(test::cli_path().string()) + " eval answers --base " +
                           test::aidreams_model().string() + " --model " + model + " --tokenizer " +
                           tokenizer().string() + " --template " + tmpl + " --data " + data +
                           " --field prompt=question --reference-field answer --threads " + std::to_string(threads) +
                           " --max-tokens 12 " + args);
}

std::string copy_of_base() {
  const auto p = test::temp_dir("answers-cli-model") / "copy-of-base.bin";
  fs::copy_file(test::aidreams_model(), p, fs::copy_options::overwrite_existing);
  return p.string();
}

TEST(EvalAnswersCli, CopyOfTheBaseIsAtDistanceZeroBaseAgainstBaseIsNot) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  const auto out = test::temp_dir("answers-cli-run");
  fs::remove_all(out);
  const std::string data = write_file("answers-cli", "prompts.jsonl", kPrompts);
  const test::CommandResult r =
      run_answers(copy_of_base(), data, "--seeds 2 --greedy --hidden-states --bootstrap 300 --json --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j, nlohmann::json::parse(test::read_text(out / "result.json")));
  EXPECT_EQ(j["prompt_sets"][0]["prompts"], 3);
  EXPECT_EQ(j["prompt_sets"][0]["with_reference"], 2);
  EXPECT_EQ(j["models"][0]["files"][0]["sha256"], j["models"][1]["files"][0]["sha256"]);
  // Every reply stored: 2 models x 3 prompts x (greedy + 2 seeds), with its fields.
  std::ifstream replies(out / "replies.jsonl");
  int lines = 0;
  for (std::string line; std::getline(replies, line); ++lines) {
    const auto x = nlohmann::json::parse(line);
    for (const char* f : {"prompt_set", "model", "prompt_id", "seed", "text", "tokens", "finish", "key"})
      EXPECT_TRUE(x.contains(f)) << f;
    EXPECT_LE(x["tokens"].get<int>(), 12);
  }
  EXPECT_EQ(lines, 18);
  // Per reply, the copy's distance to the base's reply of the same seed is 0.
  int copies = 0;
  for (const auto& x : j["per_reply"]) {
    if (x["model"] == j["models"][0]["path"]) continue;
    ++copies;
    const auto& d = x["hidden:aidreams260K.bin"]["to_base"];
    EXPECT_EQ(d["l1"].get<double>(), 0.0);
    EXPECT_NEAR(d["cosine"].get<double>(), 0.0, 1e-6);
  }
  EXPECT_EQ(copies, 9);
  for (const auto& res : j["results"]) {
    const auto& base = res["conditions"][0], copy = res["conditions"][1];
    EXPECT_EQ(copy["l1"]["to_base"]["mean"].get<double>(), 0.0);
    if (res["mode"] == "sampled") {
      // Seeds 0 and 1 of the base differ: the baseline is above 0, and the copy, paired the same
      // way, has exactly the baseline (no excess).
      EXPECT_GT(base["l1"]["to_base"]["mean"].get<double>(), 0.0);
      EXPECT_EQ(copy["l1"]["to_base_next_seed"]["mean"], base["l1"]["to_base"]["mean"]);
      EXPECT_EQ(copy["l1"]["excess_over_base_baseline"]["mean"].get<double>(), 0.0);
      EXPECT_LE(base["l1"]["to_base"]["low"].get<double>(), base["l1"]["to_base"]["mean"].get<double>());
    }
    EXPECT_EQ(copy["l1"]["to_reference"]["n"], 2);
  }
  // E1 holds in every cell (greedy and sampled, cosine and L1).
  int e1 = 0;
  for (const auto& v : j["hypotheses"])
    if (v["hypothesis"] == "E1") {
      ++e1;
      EXPECT_TRUE(v["holds"].get<bool>()) << v.dump();
    }
  EXPECT_EQ(e1, 4);

  // --reuse: nothing generated, the same numbers.
  const test::CommandResult again =
      run_answers(copy_of_base(), data, "--seeds 2 --greedy --hidden-states --bootstrap 300 --json --reuse --out " + out.string());
  ASSERT_EQ(again.status, 0) << again.err;
  auto k = nlohmann::json::parse(again.out);
  for (const auto& run : k["replies"]["runs"]) {
    EXPECT_EQ(run["generated"], 0);
    EXPECT_EQ(run["reused"], 9);
  }
  EXPECT_EQ(k["results"], j["results"]);
  EXPECT_EQ(k["win_rates"], j["win_rates"]);

  // Two threads generate the very same replies (same keys, same texts, same order).
  const auto out2 = test::temp_dir("answers-cli-run-2threads");
  const test::CommandResult t2 =
      run_answers(copy_of_base(), data, "--seeds 2 --greedy --hidden-states --bootstrap 300 --out " + out2.string(), 2);
  ASSERT_EQ(t2.status, 0) << t2.err;
  EXPECT_EQ(test::read_text(out2 / "replies.jsonl"), test::read_text(out / "replies.jsonl"));
}

TEST(EvalAnswersCli, SentenceEncoderBackbone) {
  const auto embed = test::assets_dir() / "models/all-minilm-l6-v2";
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  QUANTLAB_REQUIRE_FILE(embed / "model.safetensors");
  const auto out = test::temp_dir("answers-cli-embed");
  const test::CommandResult r = run_answers(copy_of_base(), write_file("answers-cli", "prompts.jsonl", kPrompts),
                                            "--seeds 2 --bootstrap 100 --embed-model " + embed.string() + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  // The readable table: a row per model, the win-rate matrix.
  EXPECT_NE(r.out.find("all-minilm-l6-v2, sampled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("copy-of-base.bin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all-minilm-l6-v2 l1"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(test::read_text(out / "result.json"));
  EXPECT_EQ(j["backbones"][0]["dimension"], 384);
  // --skip-first / --limit pick prompts in file order.
  const test::CommandResult cut = run_answers(copy_of_base(), write_file("answers-cli", "prompts.jsonl", kPrompts),
                                              "--seeds 2 --bootstrap 100 --skip-first 1 --limit 1 --json --embed-model " +
                                                  embed.string() + " --out " + out.string());
  ASSERT_EQ(cut.status, 0) << cut.err;
  const auto c = nlohmann::json::parse(cut.out);
  EXPECT_EQ(c["prompt_sets"][0]["prompts"], 1);
  EXPECT_EQ(c["prompt_sets"][0]["skipped_first"], 1);
  EXPECT_EQ(c["per_reply"][0]["prompt_id"], "lily");
  EXPECT_EQ(j["results"][0]["conditions"][1]["cosine"]["to_base"]["mean"].get<double>(), 0.0);
}

TEST(EvalAnswersCli, BadInputIsOneLineNamingFileAndFieldAndWritesNothing) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tokenizer());
  const auto out = test::temp_dir("answers-cli-bad") / "out";
  fs::remove_all(out);
  // A record without the prompt field.
  const std::string bad_data =
      write_file("answers-cli", "bad.jsonl", "{\"question\":\"Hi?\"}\n{\"query\":\"no question here\"}\n");
  test::CommandResult r = run_answers(copy_of_base(), bad_data, "--seeds 2 --hidden-states --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad.jsonl"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("question"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A model file that is not a model.
  const std::string junk = write_file("answers-cli", "junk.gguf", "GGUF but not really");
  r = run_answers(junk, write_file("answers-cli", "prompts.jsonl", kPrompts), "--seeds 2 --hidden-states --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("junk.gguf"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // No backbone, or no run.
  r = run_answers(copy_of_base(), write_file("answers-cli", "prompts.jsonl", kPrompts), "--seeds 2 --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--embed-model"), std::string::npos) << r.err;
  r = run_answers(copy_of_base(), write_file("answers-cli", "prompts.jsonl", kPrompts), "--hidden-states --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--seeds"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace quantlab
