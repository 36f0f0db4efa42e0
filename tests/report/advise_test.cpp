// quantlab advise on a hand-written run directory (synthetic_run.hpp): the Pareto front, the
// recommendation under budgets and tolerances, the comparisons (interval overlap for KLD,
// McNemar's exact test for mc, with p-values computed by hand), failed and pending cells listed,
// and every refusal naming its file or flag.
#include "synthetic_run.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/mcnemar.hpp"
#include "quantlab/report/advise.hpp"
#include "quantlab/report/pareto.hpp"

#include <gtest/gtest.h>

using namespace quantlab;
using namespace quantlab::report;
namespace fs = std::filesystem;

namespace {

TEST(McNemar, ExactPValuesAgreeWithTheBinomialSumsByHand) {
  // p = min(1, 2 * sum_{k <= min(b,c)} C(b+c, k) / 2^(b+c))
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(1, 7), 2.0 * (1 + 8) / 256);   // 0.0703125
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 6), 2.0 / 64);              // 0.03125
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(10, 0), 2.0 / 1024);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(2, 2), 1.0);                   // 2 * 11/16, capped
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 0), 1.0);
  EXPECT_NEAR(mcnemar_exact_p(3, 1), 2.0 * (1 + 4) / 16, 1e-12);  // symmetric in b and c
  // Large counts (log-space terms beyond 1000 discordant answers) agree with the recurrence's side,
  // and stay finite: 600 vs 401 is far from chance.
  EXPECT_NEAR(mcnemar_exact_p(520, 480) / mcnemar_exact_p(521, 480), 1.0, 0.2);
  const double p = mcnemar_exact_p(600, 401);
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1e-9);
  const McNemarResult r = mcnemar({true, true, false, false, true}, {false, true, true, false, false});
  EXPECT_EQ(r.n, 5);
  EXPECT_EQ(r.only_a, 2);
  EXPECT_EQ(r.only_b, 1);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
  EXPECT_THROW(mcnemar({true}, {true, false}), Error);
}

TEST(Pareto, KeepsOnlyFilesThatNoSmallerFileMatches) {
  // size, quality (lower is better)
  const std::vector<SizeQuality> pts{{800, 0.004}, {450, 0.05}, {500, 0.052}, {250, 0.4}, {450, 0.06}, {900, 0.004}};
  EXPECT_EQ(pareto_front(pts, false), (std::vector<size_t>{3, 1, 0}));
  // Higher is better (accuracy): the same points read the other way round keep only the smallest.
  EXPECT_EQ(pareto_front(pts, true), (std::vector<size_t>{3}));
  EXPECT_TRUE(pareto_front({}, false).empty());
}

const std::vector<int> kGold{0, 1, 2, 3, 0, 1, 2, 3, 0, 1};

// `gold` with the answers at `wrong` shifted to another choice.
std::vector<int> answers_wrong_at(const std::vector<size_t>& wrong) {
  std::vector<int> a = kGold;
  for (size_t i : wrong) a[i] = (a[i] + 1) % 4;
  return a;
}

class Advise : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("advise");
    test::SyntheticRun r(dir_ / "run");
    r.cell("base.m", "base", "done", "", "", {{"file_size", 3200}, {"bits_per_weight", 32.0}, {"parameters", 800}});
    r.ppl("", 10.0, 0.5);
    r.cell("base-logits.m.wiki", "base-logits", "done", "", "wiki", {{"n_tokens", 512}});
    r.mc("", kGold, kGold);
    struct Q {
      std::string name;
      double size, bpw, kld, kld_err, ppl;
      std::vector<size_t> mc_wrong;
    };
    // q4b is dominated by q4 (larger, worse); q2 is small and bad.
    for (const Q& q : {Q{"q8", 800, 8, 0.004, 0.0002, 10.05, {9}}, Q{"q4", 450, 4.5, 0.050, 0.002, 10.6, {0, 1, 2}},
                       Q{"q4b", 500, 5, 0.052, 0.003, 10.7, {0, 1, 2}}, Q{"q2", 250, 2.5, 0.400, 0.01, 14.0, {0, 1, 2, 3, 4, 5, 6, 7, 8}}}) {
      r.quantize(q.name, q.size, q.bpw);
      r.ppl(q.name, q.ppl, 0.55);
      r.kld(q.name, q.kld, q.kld_err);
      if (q.name == "q4b") {  // an older run's mc cell: no gold stored, the question file is read instead
        const fs::path data = dir_ / "questions.jsonl";
        std::string lines;
        for (int g : kGold)
          lines += nlohmann::json{{"context", "Q"}, {"choices", {"a", "b", "c", "d"}}, {"gold", g}}.dump() + "\n";
        test::write_text(data, lines);
        r.mc(q.name, answers_wrong_at(q.mc_wrong), kGold, false,
             {{"data", {{"path", data.string()}, {"sha256", sha256_file(data.string())}}}});
      } else {
        r.mc(q.name, answers_wrong_at(q.mc_wrong), kGold);
      }
    }
    r.quantize("q3", 0, 0, "failed", "out of memory");
    r.cell("kld.m.q3.wiki", "kld", "blocked", "q3", "wiki", {}, {}, "m", "needs quantize.m.q3, which failed");
    r.quantize("q5", 600, 6);
    r.kld("q5", 0, 0, "pending");
    run_ = read_run((dir_ / "run").string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  Advice advice(AdviseOptions o = {}) const { return advise(run_, o); }
  static const CandidateAdvice& named(const Advice& a, const std::string& name) {
    for (const CandidateAdvice& c : a.candidates)
      if (c.name == name) return c;
    throw std::runtime_error("no candidate " + name);
  }
  static std::vector<std::string> front(const Advice& a) {
    std::vector<std::string> v;
    for (size_t i : a.front) v.push_back(a.candidates[i].name);
    return v;
  }

  fs::path dir_;
  RunResults run_;
};

TEST_F(Advise, ReadsTheRunInTheRecipesOrder) {
  EXPECT_EQ(run_.models, std::vector<std::string>{"m"});
  ASSERT_EQ(run_.evaluations.size(), 3u);
  EXPECT_EQ(run_.evaluations[0], (EvaluationRef{"ppl", "wiki"}));
  EXPECT_EQ(run_.evaluations[1], (EvaluationRef{"kld", "wiki"}));
  EXPECT_EQ(run_.evaluations[2], (EvaluationRef{"mc", "arc"}));
  ASSERT_EQ(run_.files.size(), 7u);  // the base and six configurations, the failed one included
  EXPECT_TRUE(run_.files[0].is_base());
  EXPECT_EQ(run_.files[5].config, "q3");
  EXPECT_EQ(run_.files[5].cell.status, "failed");
  EXPECT_EQ(run_.files[5].cell.error, "out of memory");
}

TEST_F(Advise, TheDefaultIsTheFirstKldEvaluationAndTheBestFileWithoutABudget) {
  const Advice a = advice();
  EXPECT_EQ(a.metric.figure(), "kld_mean");
  EXPECT_EQ(front(a), (std::vector<std::string>{"q2", "q4", "q8"}));
  EXPECT_EQ(a.candidates[a.recommended].name, "q8");
  EXPECT_FALSE(named(a, "q4b").on_front);
  // KLD against the base (0 by definition): 0.004 - 1.96 * 0.0002 > 0.
  ASSERT_TRUE(named(a, "q8").vs_base);
  EXPECT_TRUE(named(a, "q8").vs_base->distinguishable);
  EXPECT_EQ(named(a, "q8").vs_base->test, "95% intervals");
  EXPECT_NE(a.reason.find("Ship q8"), std::string::npos) << a.reason;
}

TEST_F(Advise, ABudgetPicksTheBestFileWithinItAndSaysWhatTheIntervalsCannotTellApart) {
  AdviseOptions o;
  o.max_size = 600;
  Advice a = advice(o);
  EXPECT_EQ(a.candidates[a.recommended].name, "q4");
  EXPECT_FALSE(named(a, "q8").within_budget);
  // q4b: |0.052 - 0.050| = 0.002 <= 1.96 * (0.003 + 0.002) = 0.0098: the intervals overlap.
  ASSERT_TRUE(named(a, "q4b").vs_best);
  EXPECT_FALSE(named(a, "q4b").vs_best->distinguishable);
  EXPECT_NEAR(named(a, "q4b").vs_best->difference, 0.002, 1e-12);
  // q2: 0.35 > 1.96 * 0.012.
  EXPECT_TRUE(named(a, "q2").vs_best->distinguishable);
  EXPECT_NE(a.reason.find("Beyond the budget, q8 measures better"), std::string::npos) << a.reason;

  o = {};
  o.max_bpw = 3;
  EXPECT_EQ(advice(o).candidates[advice(o).recommended].name, "q2");
  o.max_bpw = 4.5;  // the limit itself is within the budget
  EXPECT_EQ(advice(o).candidates[advice(o).recommended].name, "q4");
}

TEST_F(Advise, ATolerancePicksTheSmallestFileThatCloseToTheBest) {
  AdviseOptions o;
  o.max_size = 600;
  o.tolerance = 0.36;  // q2 is 0.35 worse than q4
  Advice a = advice(o);
  EXPECT_EQ(a.candidates[a.recommended].name, "q2");
  EXPECT_EQ(a.candidates[a.best].name, "q4");
  EXPECT_NE(a.reason.find("tolerance"), std::string::npos) << a.reason;
  o.tolerance = 0.34;
  a = advice(o);
  EXPECT_EQ(a.candidates[a.recommended].name, "q4");
}

TEST_F(Advise, FailedAndPendingFilesAreListedWithTheirStatusNeverRanked) {
  const Advice a = advice();
  ASSERT_EQ(a.candidates.size(), 6u);
  const CandidateAdvice& failed = named(a, "q3");
  EXPECT_FALSE(failed.quality);
  EXPECT_NE(failed.not_measured.find("quantization failed: out of memory"), std::string::npos) << failed.not_measured;
  const CandidateAdvice& pending = named(a, "q5");
  EXPECT_FALSE(pending.quality);
  EXPECT_NE(pending.not_measured.find("kld:wiki pending"), std::string::npos) << pending.not_measured;
  EXPECT_NE(a.reason.find("Not ranked"), std::string::npos);
  EXPECT_NE(a.reason.find("q3 (quantization failed"), std::string::npos) << a.reason;
  const auto j = advice_json(run_, a);
  ASSERT_EQ(j["files"].size(), 6u);
  EXPECT_EQ(j["files"][4]["config"], "q3");
  EXPECT_EQ(j["files"][4]["status"], "failed");
  EXPECT_TRUE(j["files"][4]["quality"].is_null());
  const std::string text = advice_text(run_, a);
  EXPECT_NE(text.find("not ranked: quantization failed: out of memory"), std::string::npos) << text;
}

TEST_F(Advise, MultipleChoiceFilesArePairedQuestionByQuestionWithMcNemarsExactTest) {
  AdviseOptions o;
  o.metric = "mc:arc";
  const Advice a = advice(o);
  EXPECT_TRUE(a.metric.higher_is_better());
  EXPECT_EQ(a.metric.rule, "per-char");
  EXPECT_EQ(a.candidates[a.recommended].name, "q8");  // 9 of 10
  // q4 vs q8: q8 alone right on questions 0-2, q4 alone on 9: b = 1, c = 3, p = 2 * (1 + 4) / 16.
  const Comparison& q4 = *named(a, "q4").vs_best;
  EXPECT_EQ(q4.test, "McNemar exact");
  EXPECT_EQ(q4.only_file, 1);
  EXPECT_EQ(q4.only_reference, 3);
  EXPECT_DOUBLE_EQ(q4.p_value, 0.625);
  EXPECT_FALSE(q4.distinguishable);
  // q4b's cell holds no gold: it comes from the question file, so the pairing is the same as q4's.
  EXPECT_EQ(named(a, "q4b").vs_best->test, "McNemar exact");
  EXPECT_DOUBLE_EQ(named(a, "q4b").vs_best->p_value, 0.625);
  // q2 vs q8: b = 1 (question 9), c = 9 (questions 0-8): p = 2 * (1 + 10) / 1024.
  EXPECT_EQ(named(a, "q2").vs_best->only_file, 1);
  EXPECT_EQ(named(a, "q2").vs_best->only_reference, 9);
  EXPECT_DOUBLE_EQ(named(a, "q2").vs_best->p_value, 22.0 / 1024);
  EXPECT_TRUE(named(a, "q2").vs_best->distinguishable);
  // Against the base (all 10 right): q2 lost 9, gained 0: p = 2 / 512.
  EXPECT_DOUBLE_EQ(named(a, "q2").vs_base->p_value, 2.0 / 512);
  EXPECT_DOUBLE_EQ(named(a, "q8").vs_base->p_value, 1.0);
  EXPECT_FALSE(named(a, "q8").vs_base->distinguishable);
}

TEST_F(Advise, AChangedQuestionFileIsNotUsedForGold) {
  test::write_text(dir_ / "questions.jsonl", "{\"context\": \"Q\", \"choices\": [\"a\", \"b\"], \"gold\": 1}\n");
  AdviseOptions o;
  o.metric = "mc:arc";
  const Advice a = advice(o);
  // No pairing for q4b any more: its stored stderr decides, as for KLD.
  EXPECT_EQ(named(a, "q4b").vs_best->test, "95% intervals");
  EXPECT_EQ(named(a, "q4").vs_best->test, "McNemar exact");
}

TEST_F(Advise, PplIsChosenByName) {
  AdviseOptions o;
  o.metric = "ppl:wiki";
  const Advice a = advice(o);
  EXPECT_EQ(a.metric.figure(), "ppl");
  EXPECT_EQ(a.candidates[a.recommended].name, "q8");
  // 10.05 vs the base's 10.0: the intervals (± 1.96 * 0.5 and 0.55) overlap.
  EXPECT_FALSE(named(a, "q8").vs_base->distinguishable);
  EXPECT_TRUE(named(a, "q2").vs_base->distinguishable);  // 4.0 > 1.96 * 1.05
}

// The Error a call throws, or a failure.
template <class F>
Error thrown(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error("", "", "");
}

TEST_F(Advise, RefusalsNameTheFlagOrTheFile) {
  AdviseOptions o;
  o.max_size = 200;
  Error e = thrown([&] { advice(o); });
  EXPECT_EQ(e.source(), "--max-size");
  EXPECT_NE(e.message().find("the smallest is q2"), std::string::npos) << e.what();
  o = {};
  o.metric = "bleu";
  e = thrown([&] { advice(o); });
  EXPECT_EQ(e.source(), "--metric");
  EXPECT_NE(e.message().find("kld:wiki"), std::string::npos) << e.what();
  o.metric = "mc:hellaswag";
  EXPECT_EQ(thrown([&] { advice(o); }).source(), "--metric");
  o.metric = "mc:arc:best";
  EXPECT_EQ(thrown([&] { advice(o); }).source(), "--metric");
  o = {};
  o.model = "other";
  EXPECT_EQ(thrown([&] { advice(o); }).source(), "--model");
  o = {};
  o.tolerance = -1;
  EXPECT_EQ(thrown([&] { advice(o); }).source(), "--tolerance");

  e = thrown([&] { read_run((dir_ / "nowhere").string()); });
  EXPECT_NE(e.message().find("no such run directory"), std::string::npos);
  fs::create_directories(dir_ / "empty");
  e = thrown([&] { read_run((dir_ / "empty").string()); });
  EXPECT_EQ(e.field(), "sweep.json");
  // A malformed cell result names its file.
  test::write_text(dir_ / "run" / "cells" / "kld.m.q4.wiki.json", "{\"key\": ");
  e = thrown([&] { read_run((dir_ / "run").string()); });
  EXPECT_NE(std::string(e.what()).find("kld.m.q4.wiki.json"), std::string::npos) << e.what();
  // A result of another cell (its key differs from sweep.json's).
  test::write_text(dir_ / "run" / "cells" / "kld.m.q4.wiki.json", "{\"key\": \"other\", \"figures\": {}}");
  e = thrown([&] { read_run((dir_ / "run").string()); });
  EXPECT_EQ(e.field(), "key");
  // A figure missing from a finished result names the cell file and the field.
  test::write_text(dir_ / "run" / "cells" / "kld.m.q4.wiki.json", "{\"key\": \"key-kld.m.q4.wiki\", \"figures\": {\"kld_mean\": 0.05}}");
  const RunResults broken = read_run((dir_ / "run").string());
  e = thrown([&] { advise(broken, {}); });
  EXPECT_EQ(e.field(), "figures.kld_stderr");
  EXPECT_NE(e.source().find("kld.m.q4.wiki.json"), std::string::npos);
  // Malformed sweep.json.
  test::write_text(dir_ / "run" / "sweep.json", "{\"cells\": [1, ");
  e = thrown([&] { read_run((dir_ / "run").string()); });
  EXPECT_NE(e.source().find("sweep.json"), std::string::npos) << e.what();
  test::write_text(dir_ / "run" / "sweep.json", "{\"cells\": [{\"cell\": \"x\", \"kind\": \"base\", \"status\": \"done\"}]}");
  e = thrown([&] { read_run((dir_ / "run").string()); });
  EXPECT_EQ(e.field(), "cells[0].model");
  // A listing that names a result outside the run directory (a run from someone else).
  for (const char* outside : {"../elsewhere.json", "/etc/hostname", "cells/../../x.json"}) {
    test::write_text(dir_ / "run" / "sweep.json", std::string("{\"cells\": [{\"cell\": \"x\", \"kind\": \"base\", ") +
                                                      "\"status\": \"done\", \"model\": \"m\", \"result\": \"" + outside + "\"}]}");
    e = thrown([&] { read_run((dir_ / "run").string()); });
    EXPECT_EQ(e.field(), "cells[0].result") << outside;
    EXPECT_NE(e.message().find("not a path inside the run directory"), std::string::npos) << e.what();
  }
}

TEST(AdviseRefusal, ARunWithoutQuantizeCellsHasNothingToCompare) {
  const fs::path dir = test::temp_dir("advise-noq");
  test::SyntheticRun r(dir);
  r.cell("base.m", "base", "done", "", "", {{"file_size", 3200}, {"bits_per_weight", 32.0}});
  r.ppl("", 10.0, 0.5);
  const Error e = thrown([&] { read_run(dir.string()); });
  EXPECT_EQ(e.field(), "cells");
  EXPECT_NE(e.message().find("no quantize cell"), std::string::npos);
  fs::remove_all(dir);
}

TEST(AdviseRefusal, NothingMeasuredNamesWhyEachFileIsNot) {
  const fs::path dir = test::temp_dir("advise-none");
  test::SyntheticRun r(dir);
  r.cell("base.m", "base", "done", "", "", {{"file_size", 3200}, {"bits_per_weight", 32.0}});
  r.quantize("q4", 450, 4.5);
  r.kld("q4", 0, 0, "pending");
  const RunResults run = read_run(dir.string());
  const Error e = thrown([&] { advise(run, {}); });
  EXPECT_EQ(e.field(), "kld_mean");
  EXPECT_NE(e.message().find("q4: kld:wiki pending"), std::string::npos) << e.what();
  fs::remove_all(dir);
}

}  // namespace
