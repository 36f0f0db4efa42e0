// quantlab report's HTML page and the advise/report commands: the page has a row per file, one
// well-formed SVG per evaluation with the front and the base's line, the advice, the same bytes on
// every run; the commands print one JSON object or refuse in one line. Last, both on a real sweep
// of the tiny model (examples/sweep-tiny.yaml).
#include "synthetic_run.hpp"

#include "quantlab/io/json.hpp"
#include "quantlab/report/html_report.hpp"
#include "quantlab/report/svg_scatter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

using namespace quantlab;
using namespace quantlab::report;
namespace fs = std::filesystem;

namespace {

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

// Whether the markup's elements nest properly (every open tag closed in order, `/>` self-closing);
// "" when they do, else what is wrong. Enough to catch a broken SVG or table.
std::string nesting_error(const std::string& s, const std::vector<std::string>& void_elements = {}) {
  std::vector<std::string> open;
  for (size_t at = s.find('<'); at != std::string::npos; at = s.find('<', at + 1)) {
    const size_t end = s.find('>', at);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(at);
    const std::string tag = s.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '!' || tag[0] == '?' || tag.back() == '/') continue;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \n"));
    if (std::find(void_elements.begin(), void_elements.end(), name) == void_elements.end()) open.push_back(name);
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

std::vector<std::string> svgs(const std::string& html) {
  std::vector<std::string> v;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    v.push_back(html.substr(at, html.find("</svg>", at) + 6 - at));
  return v;
}

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("report");
    test::SyntheticRun r(dir_ / "run");
    r.cell("base.m", "base", "done", "", "", {{"file_size", 3200}, {"bits_per_weight", 32.0}});
    r.ppl("", 10.0, 0.5);
    r.cell("base-logits.m.wiki", "base-logits", "done", "", "wiki", {{"n_tokens", 512}});
    const nlohmann::ordered_json calibration{{"dataset", {{"name", "groups_merged.txt"}, {"sha256", std::string(64, 'c')}}},
                                             {"samples_used", 16}, {"packing", {{"mode", "per-sample"}, {"seq_len", 64}}}};
    r.cell("quantize.m.q8", "quantize", "done", "q8", "", {{"file_size", 800}, {"bits_per_weight", 8.0}}, {{"calibration", calibration}});
    r.ppl("q8", 10.05, 0.5);
    r.kld("q8", 0.004, 0.0002);
    r.quantize("q4<&>", 450, 4.5);  // a name that must be escaped
    r.ppl("q4<&>", 10.6, 0.55);
    r.kld("q4<&>", 0.05, 0.002);
    r.quantize("q2", 250, 2.5);
    r.ppl("q2", 14, 0.8);
    r.kld("q2", 0.4, 0.01);
    r.quantize("q3", 0, 0, "failed", "out of memory");
    run_ = (dir_ / "run").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string run_;
};

TEST_F(Report, TheHtmlPageHasEveryFileOneValidSvgPerEvaluationAndTheAdvice) {
  const RunResults run = read_run(run_);
  const std::string html = html_report(run);
  EXPECT_EQ(nesting_error(html, {"meta"}), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(count(html, "http"), count(html, "xmlns=\"http://www.w3.org/2000/svg\"")) << "no URL but the SVG namespace";
  for (const std::string row : {"<tr><td>(base)</td>", "<tr class=\"recommended\"><td>q8</td>", "<tr><td>q4&lt;&amp;&gt;</td>",
                                "<tr><td>q2</td>", "<tr class=\"failed\"><td>q3</td>"})
    EXPECT_NE(html.find(row), std::string::npos) << row;
  EXPECT_EQ(html.find("q4<&>"), std::string::npos) << "unescaped";
  EXPECT_NE(html.find("0.05 ± 0.002"), std::string::npos);   // kld ± stderr
  EXPECT_NE(html.find("10 ± 0.5"), std::string::npos);        // the base's perplexity
  EXPECT_NE(html.find("title=\"out of memory\">failed"), std::string::npos);
  EXPECT_NE(html.find("Ship q8"), std::string::npos);
  EXPECT_NE(html.find("groups_merged.txt (sha256 cccccccccccc), 16 samples, per-sample packing, seq_len 64"), std::string::npos);
  EXPECT_NE(html.find("quantlab 0.1.0 (abc1234)"), std::string::npos);
  const auto plots = svgs(html);
  ASSERT_EQ(plots.size(), 2u);  // ppl:wiki, kld:wiki
  for (const std::string& svg : plots) {
    EXPECT_EQ(nesting_error(svg), "") << svg;
    EXPECT_EQ(count(svg, "<circle"), 3u) << "q8, q4, q2 (q3 failed)";
    EXPECT_EQ(count(svg, "class=\"pareto-front\""), 1u);
    EXPECT_EQ(count(svg, "class=\"reference\""), 1u) << "the base";
  }
  EXPECT_NE(plots[0].find("base 10"), std::string::npos);
  EXPECT_NE(plots[1].find("base 0"), std::string::npos) << "the base's KLD is 0 by definition";
  EXPECT_EQ(html_report(read_run(run_)), html) << "the same run directory gives the same bytes";
}

TEST(SvgScatter, TicksAreRoundAndCoverTheRange) {
  const auto unit = nice_ticks(0.0, 1.0, 5);
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * double(i), 1e-12);
  // 6.4 / 6 = 1.07 per tick rounds up to a step of 2.
  EXPECT_EQ(nice_ticks(2.3, 8.7, 6), (std::vector<double>{4, 6, 8}));
  EXPECT_EQ(nice_ticks(-0.25, 0.25, 5), (std::vector<double>{-0.2, -0.1, 0, 0.1, 0.2}));  // 0, never -0
  EXPECT_EQ(nice_ticks(5, 5, 4), std::vector<double>{5});
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

test::CommandResult ql(const std::string& args) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " " + args + " </dev/null");
}

size_t lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

TEST_F(Report, TheCommandsPrintOneJsonObjectOrRefuseInOneLine) {
  auto r = ql("advise " + test::shell_quote(run_) + " --max-size 600B --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["recommended"], "q4<&>");
  EXPECT_EQ(j["pareto_front"], (nlohmann::json{"q2", "q4<&>", "q8"}));
  EXPECT_EQ(j["files"].size(), 4u);
  r = ql("advise " + test::shell_quote(run_));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("* q8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not ranked: quantization failed: out of memory"), std::string::npos) << r.out;

  for (const std::string bad : {"--metric bleu", "--max-size 100B", "--max-size lots", "--max-bpw -1", "--tolerance x"}) {
    SCOPED_TRACE(bad);
    r = ql("advise " + test::shell_quote(run_) + " " + bad);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(bad.substr(0, bad.find(' '))), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  r = ql("advise " + test::shell_quote((dir_ / "nowhere").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no such run directory"), std::string::npos) << r.err;

  const fs::path out = dir_ / "r.html";
  r = ql("report " + test::shell_quote(run_) + " --out " + test::shell_quote(out.string()) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["out"], out.string());
  const std::string first = test::read_text(out);
  EXPECT_EQ(first, html_report(read_run(run_)));
  r = ql("report " + test::shell_quote(run_));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(test::read_text(fs::path(run_) / "report.html"), first);
  r = ql("report " + test::shell_quote((dir_ / "nowhere").string()) + " --out " + test::shell_quote((dir_ / "x.html").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(fs::exists(dir_ / "x.html"));
}

// The real thing: a sweep of the tiny model, then advise on each metric and the report.
TEST(ReportOnARealSweep, TheTinyExampleIsAdvisedOnAndReported) {
  const fs::path a = test::assets_dir();
  for (const fs::path& p : {a / "models/aidreams260K/aidreams260K.bin", a / "models/aidreams260K/tok512.bin",
                            a / "data/imatrix-groups-merged/groups_merged.txt", a / "data/openai-evals/logiqa.jsonl",
                            a / "data/wikitext-2-raw/wiki.test.raw", a / "data/arc/arc-easy-validation-rc0.jsonl"})
    QUANTLAB_REQUIRE_FILE(p);
  const fs::path dir = test::temp_dir("report-real");
  const std::string run = (dir / "run").string();
  auto r = ql("sweep " + test::shell_quote((test::source_dir() / "examples" / "sweep-tiny.yaml").string()) + " --out " +
              test::shell_quote(run) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  r = ql("advise " + test::shell_quote(run) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metric"]["figure"], "kld_mean");
  ASSERT_EQ(j["files"].size(), 8u);
  for (const auto& f : j["files"]) {
    EXPECT_TRUE(f["quality"].is_object()) << f;
    EXPECT_EQ(f["vs_base"]["test"], "95% intervals") << f;
  }
  // The 8-bit files are the best by KLD; the recommendation is the best of all.
  const std::string rec = j["recommended"];
  double best = 1e9;
  for (const auto& f : j["files"]) best = std::min(best, f["quality"]["value"].get<double>());
  for (const auto& f : j["files"]) {
    if (f["config"] == rec) {
      EXPECT_EQ(f["quality"]["value"].get<double>(), best);
    }
  }
  // mc: every file paired with the base question by question (the cells store gold answers).
  r = ql("advise " + test::shell_quote(run) + " --metric mc:arc-easy --json");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  for (const auto& f : j["files"]) {
    EXPECT_EQ(f["vs_base"]["test"], "McNemar exact") << f;
    EXPECT_EQ(f["vs_base"]["questions"], 12) << f;
  }
  // A budget between the smallest and the largest file leaves out exactly the files above it.
  double low = 1e9, high = 0;
  for (const auto& f : j["files"]) low = std::min(low, f["bits_per_weight"].get<double>()), high = std::max(high, f["bits_per_weight"].get<double>());
  const double limit = (low + high) / 2;
  r = ql("advise " + test::shell_quote(run) + " --max-bpw " + std::to_string(limit) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  for (const auto& f : j["files"]) EXPECT_EQ(f["within_budget"].get<bool>(), f["bits_per_weight"].get<double>() <= limit) << f;
  r = ql("report " + test::shell_quote(run) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = test::read_text(fs::path(run) / "report.html");
  EXPECT_EQ(svgs(html).size(), 3u);
  for (const std::string& svg : svgs(html)) EXPECT_EQ(nesting_error(svg), "");
  EXPECT_EQ(nesting_error(html, {"meta"}), "");
  fs::remove_all(dir);
}

}  // namespace
