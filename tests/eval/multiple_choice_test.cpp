// eval mc: the question readers (both layouts, and their errors), the answer rules, accuracy and
// paired statistics on hand-made scores, scoring with a shared prefix against running every choice
// whole on the tiny real model, and the CLI's report and errors.
#include "quantlab/eval/multiple_choice.hpp"
#include "quantlab/core/error.hpp"
#include "model/reference_fixture.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace quantlab {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  auto p = test::temp_dir("mc-data") / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

std::string request(int doc, int idx, const std::string& context, const std::string& cont, int gold) {
  nlohmann::json j{{"doc_id", doc}, {"idx", idx}, {"doc", {{"gold", gold}}},
                   {"request", {{"context", context}, {"continuation", cont}}}};
  return j.dump() + "\n";
}

TEST(McReader, LmEvalRequestsWithUnconditionedContexts) {
  std::string text;
  for (int i = 0; i < 3; ++i) text += request(0, i, "Q: sky?\nA:", i == 1 ? " blue" : " red", 1);
  for (int i = 0; i < 2; ++i) text += request(1, i, "Q: cat?\nA:", i == 0 ? " meows" : " barks", 0);
  for (int i = 0; i < 3; ++i) text += request(1000000, i, "Answer:", i == 1 ? " blue" : " red", 1);
  const auto qs = read_mc_questions(write_file("req.jsonl", text));
  ASSERT_EQ(qs.size(), 2u);
  EXPECT_EQ(qs[0].context, "Q: sky?\nA:");
  EXPECT_EQ(qs[0].continuations, (std::vector<std::string>{" red", " blue", " red"}));
  EXPECT_EQ(qs[0].gold, 1);
  ASSERT_TRUE(qs[0].uncond_context.has_value());
  EXPECT_EQ(*qs[0].uncond_context, "Answer:");
  EXPECT_FALSE(qs[1].uncond_context.has_value());
  EXPECT_EQ(qs[1].gold, 0);
}

TEST(McReader, PlainQuestionsGetASpaceBeforeEachChoice) {
  const auto qs = read_mc_questions(write_file("plain.jsonl",
      "{\"query\": \"2+2=\", \"choices\": [\"4\", \"5\"], \"gold\": 0}\n\n"
      "{\"context\": \"Sky:\", \"choices\": [\"green\", \"blue\", \"red\"], \"gold\": 1}\n"));
  ASSERT_EQ(qs.size(), 2u);
  EXPECT_EQ(qs[0].continuations, (std::vector<std::string>{" 4", " 5"}));
  EXPECT_EQ(qs[1].context, "Sky:");
  EXPECT_EQ(qs[1].gold, 1);
}

TEST(McReader, BadInputNamesTheLineAndField) {
  auto message = [](const std::string& content) {
    try {
      read_mc_questions(write_file("bad.jsonl", content));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{\"context\": \"x\", \"choices\": [\"a\", \"b\"]}\n").find("line 1: gold"), std::string::npos);
  EXPECT_NE(message("not json\n").find("line 1"), std::string::npos);
  EXPECT_NE(message(request(0, 1, "c", " a", 0)).find("idx"), std::string::npos);
  EXPECT_NE(message(request(0, 0, "c", " a", 0) + request(0, 1, "d", " b", 0)).find("line 2: request.context"), std::string::npos);
  EXPECT_NE(message("{\"context\": \"x\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n").find("gold"), std::string::npos);
  EXPECT_NE(message("{\"context\": \"x\", \"choices\": [\"a\"], \"gold\": 0}\n").find("fewer than 2"), std::string::npos);
  EXPECT_NE(message(request(0, 0, "c", " a", 0) + request(0, 1, "c", " b", 0) + request(1000000, 0, "Answer:", " a", 0) +
                    request(1000000, 1, "Answer:", " z", 0)).find("differ"), std::string::npos);
  EXPECT_NE(message("").find("no questions"), std::string::npos);
  EXPECT_NE(message("{\"context\": \"x\", \"choices\": \"ab\", \"gold\": 0}\n").find("line 1: choices"), std::string::npos);
}

McQuestionScore scores(std::vector<McChoiceScore> c, int gold, bool uncond = false) {
  McQuestionScore s;
  s.choices = std::move(c);
  s.gold = gold;
  s.has_uncond = uncond;
  return s;
}

TEST(McRules, EachRuleNormalisesAsDocumented) {
  // Choice 0: short and likely in total; choice 1: long, better per token and per character, and
  // far more likely than without the context.
  const McQuestionScore s = scores({{-4.0, 2, 10, -3.9}, {-6.0, 6, 40, -1.0}}, 1, true);
  EXPECT_EQ(s.answer(McRule::Sum), 0);
  EXPECT_EQ(s.answer(McRule::PerToken), 1);
  EXPECT_EQ(s.answer(McRule::PerChar), 1);
  EXPECT_EQ(s.answer(McRule::Uncond), 0);  // -4 - (-3.9) = -0.1 beats -6 - (-1) = -5
  EXPECT_EQ(scores({{-4.0, 2, 10, 0}, {-4.0, 2, 10, 0}}, 1).answer(McRule::Sum), 0);  // ties: the first
  EXPECT_EQ(scores({{-4.0, 2, 10, 0}, {-6.0, 2, 10, 0}}, 0).answer(McRule::Uncond), -1);
}

TEST(McRules, AccuracyAndPairedDifference) {
  // Base right on questions 0-2, model on 0, 1 and 3 of four: one gained, one lost.
  std::vector<McQuestionScore> base, model;
  for (int q = 0; q < 4; ++q) {
    base.push_back(scores({{q < 3 ? -1.0 : -2.0, 1, 1, 0}, {q < 3 ? -2.0 : -1.0, 1, 1, 0}}, 0));
    model.push_back(scores({{q == 2 ? -2.0 : -1.0, 1, 1, 0}, {q == 2 ? -1.0 : -2.0, 1, 1, 0}}, 0));
  }
  model[3].choices[0].logprob = -0.5;
  const McAccuracy b = mc_accuracy(base, McRule::Sum);
  EXPECT_EQ(b.n, 4);
  EXPECT_EQ(b.correct, 3);
  EXPECT_DOUBLE_EQ(b.acc, 0.75);
  EXPECT_NEAR(b.stderr_, std::sqrt(0.75 * 0.25 / 3.0), 1e-12);  // sample standard error
  const McPaired p = mc_paired(model, base, McRule::Sum);
  EXPECT_EQ(p.n, 4);
  EXPECT_EQ(p.gained, 1);
  EXPECT_EQ(p.lost, 1);
  EXPECT_EQ(p.same_answer, 2);
  EXPECT_DOUBLE_EQ(p.delta_acc, 0.0);
  EXPECT_NEAR(p.delta_stderr, std::sqrt((2.0 / 3.0) / 4.0), 1e-12);  // d = {0, 0, -1, +1}
  EXPECT_EQ(mc_accuracy(base, McRule::Uncond).n, 0);
  EXPECT_THROW(mc_paired(model, {}, McRule::Sum), Error);
}

std::filesystem::path tiny_tokenizer() { return test::shared_dir() / "models" / "aidreams260K" / "tok512.bin"; }

// Sum of log p(token) over positions from..end of `seq`, from one whole forward pass.
double whole_sequence_logprob(Session& s, const std::vector<int32_t>& seq, int64_t from) {
  s.rewind(0);
  const auto logits = s.forward(seq, 0);
  const int64_t n_vocab = s.model().config.n_vocab;
  double lp = 0;
  for (int64_t p = from; p < int64_t(seq.size()); ++p) {
    const float* row = logits.data() + (p - 1) * n_vocab;
    double mx = row[0], sum = 0;
    for (int64_t v = 0; v < n_vocab; ++v) mx = std::max(mx, double(row[v]));
    for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(double(row[v]) - mx);
    lp += double(row[seq[size_t(p)]]) - mx - std::log(sum);
  }
  return lp;
}

TEST(McScoring, SharedPrefixGivesTheLogProbabilitiesOfWholeSequences) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tiny_tokenizer());
  const Model model = load_model(test::aidreams_model().string());
  const Tokenizer tok = Tokenizer::load(tiny_tokenizer().string());
  ThreadPool pool(2);
  Session session(model, pool, 128);
  McQuestion q;
  q.id = "t";
  q.context = "Lily went to the park with her mom. She saw a big";
  q.continuations = {" dog.", " red ball and she was happy.", " dog and a cat."};
  q.gold = 0;
  q.uncond_context = "Answer:";
  const McTokens t = tokenize_question(tok, q);
  ASSERT_GE(t.shared_prefix, 10);
  for (const auto& c : t.choices) ASSERT_LT(t.shared_prefix, int64_t(c.size()));
  const McQuestionScore s = score_question(session, t, q);
  ASSERT_EQ(s.choices.size(), 3u);
  ASSERT_TRUE(s.has_uncond);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(s.choices[c].logprob, whole_sequence_logprob(session, t.choices[c], t.shared_prefix), 1e-6) << c;
    EXPECT_NEAR(s.choices[c].uncond_logprob, whole_sequence_logprob(session, t.uncond[c], t.uncond_prefix), 1e-6) << c;
    EXPECT_EQ(s.choices[c].n_tokens, int64_t(t.choices[c].size()) - t.shared_prefix);
    EXPECT_LT(s.choices[c].logprob, 0.0);
  }
  EXPECT_EQ(s.choices[1].n_chars, 28);
}

test::CommandResult run_mc(const std::string& args) {
  const std::string m = test::aidreams_model().string();
  return test::run_command(test::shell_quote(test::cli_path().string()) + " eval mc --model " + m + " --base-model " + m +
                           " --tokenizer " + tiny_tokenizer().string() + " --threads 1 " + args);
}

TEST(EvalMcCli, ReportsEveryRuleAndAZeroDifferenceAgainstItself) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tiny_tokenizer());
  std::string text;
  const char* ctx[] = {"Tom had a red", "The cat sat on the", "Sue likes to eat"};
  for (int d = 0; d < 3; ++d)
    for (int i = 0; i < 3; ++i) text += request(d, i, ctx[d], i == 0 ? " ball." : (i == 1 ? " mat." : " cake."), d);
  for (int d = 0; d < 3; ++d)
    for (int i = 0; i < 3; ++i) text += request(1000000 + d, i, "Answer:", i == 0 ? " ball." : (i == 1 ? " mat." : " cake."), d);
  const auto out_file = test::temp_dir("mc-cli-out") / "mc.json";
  const test::CommandResult r = run_mc("--data " + write_file("q.jsonl", text) + " --skip-first 1 --per-question --json --out " + out_file.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j, nlohmann::json::parse(test::read_text(out_file)));
  EXPECT_EQ(j["data"]["questions"], 2);
  EXPECT_EQ(j["data"]["with_uncond"], true);
  for (const char* rule : {"sum", "per-token", "per-char", "uncond"}) {
    EXPECT_EQ(j["models"][0]["accuracy"][rule]["n"], 2) << rule;
    EXPECT_EQ(j["models"][0]["accuracy"][rule], j["base"]["accuracy"][rule]) << rule;
    EXPECT_EQ(j["models"][0]["vs_base"][rule]["same_answer"], 2) << rule;
    EXPECT_EQ(j["models"][0]["vs_base"][rule]["delta_acc"], 0.0) << rule;
  }
  ASSERT_EQ(j["per_question"].size(), 2u);
  EXPECT_EQ(j["per_question"][0]["id"], "1");
  EXPECT_EQ(j["per_question"][0]["models"][0]["logprob"].size(), 3u);
}

TEST(EvalMcCli, MalformedDataIsOneErrorLineAndNoReport) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(tiny_tokenizer());
  const auto out_file = test::temp_dir("mc-cli-bad") / "mc.json";
  const std::string data = write_file("bad.jsonl", "{\"context\": \"x\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"context\": 3}\n");
  const test::CommandResult r = run_mc("--data " + data + " --out " + out_file.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad.jsonl"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2: context"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_file));
  EXPECT_NE(run_mc("--data " + data + " --skip-first 5").status, 0);
}

}  // namespace
}  // namespace quantlab
