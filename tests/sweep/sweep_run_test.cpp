// `quantlab sweep examples/sweep-tiny.yaml` end to end on the real tiny model (aidreams260K) and real
// data (assets via tools/fetch-assets): every cell once, resume after a deleted result, resume after
// kill -9, and the same figures whatever the number of cells run at once.
#include "io/io_test_util.hpp"

#include "quantlab/io/json.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

extern char** environ;

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

fs::path recipe() { return test::source_dir() / "examples" / "sweep-tiny.yaml"; }

// The files examples/sweep-tiny.yaml's asset roles name (tools/fetch-assets puts them there).
std::vector<fs::path> tiny_assets() {
  const fs::path a = test::assets_dir();
  return {a / "models/aidreams260K/aidreams260K.bin", a / "models/aidreams260K/tok512.bin",
          a / "data/imatrix-groups-merged/groups_merged.txt", a / "data/openai-evals/logiqa.jsonl",
          a / "data/wikitext-2-raw/wiki.test.raw", a / "data/arc/arc-easy-validation-rc0.jsonl"};
}

nlohmann::json sweep(const fs::path& out, const std::string& extra = "") {
  const auto r = test::run_command(test::shell_quote(test::cli_path().string()) + " sweep " + test::shell_quote(recipe().string()) +
                                   " --out " + test::shell_quote(out.string()) + " --json " + extra + " </dev/null");
  // A failed sweep ends the test with its own message (the figures read next would only add a
  // confusing JSON type error).
  if (r.status != 0) throw std::runtime_error("quantlab sweep exited with " + std::to_string(r.status) + ": " + r.err);
  EXPECT_TRUE(r.err.empty()) << "no progress line when stderr is no terminal: " << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("quantlab sweep --json printed no JSON: " + r.out);
  return j;
}

std::map<std::string, std::string> cell_files(const fs::path& run) {
  std::map<std::string, std::string> m;
  if (!fs::exists(run / "cells")) return m;
  for (const auto& e : fs::directory_iterator(run / "cells"))
    if (e.path().extension() == ".json") m[e.path().filename().string()] = test::read_text(e.path());
  return m;
}

// A cell result without "run" (its seconds, RSS, timestamps): what must be the same on every run.
std::string deterministic(const std::string& text) {
  auto j = nlohmann::ordered_json::parse(text);
  j.erase("run");
  return j.dump();
}

// The temporary names atomic writers use: none may be left once a sweep has finished.
std::vector<std::string> leftovers(const fs::path& run) {
  std::vector<std::string> left;
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    const std::string n = e.path().filename().string();
    if (n[0] == '.' || n.find(".partial") != std::string::npos || (n.size() > 4 && n.substr(n.size() - 4) == ".tmp"))
      left.push_back(e.path().string());
  }
  return left;
}

class SweepRun : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& p : tiny_assets()) QUANTLAB_REQUIRE_FILE(p);
    dir_ = test::temp_dir("sweep-run");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(SweepRun, TheTinyExampleRunsEveryCellOnceAndASecondRunReusesThemAll) {
  const fs::path run = dir_ / "run";
  const auto first = sweep(run);
  const size_t n = first["cells"].get<size_t>();
  EXPECT_EQ(n, 1u + 1u + 8u + 1u + 2u + 8u * 3u) << first;
  EXPECT_EQ(first["computed"].get<size_t>(), n) << first;
  const auto status = read_json_file((run / "sweep.json").string());
  EXPECT_EQ(status["counts"]["done"].get<size_t>(), n);
  ASSERT_EQ(status["cells"].size(), n);
  std::map<std::string, nlohmann::json> by_config;  // kld results by configuration
  for (const auto& c : status["cells"]) {
    ASSERT_TRUE(c.contains("result")) << c;
    const auto j = read_json_file((run / c["result"].get<std::string>()).string());
    EXPECT_EQ(j["key"], c["key"]);
    EXPECT_TRUE(j["run"].contains("seconds"));
    if (j["kind"] == "kld") by_config[j["config"].get<std::string>()] = j["figures"];
    if (j["kind"] == "ppl") {
      EXPECT_GT(j["figures"]["ppl"].get<double>(), 1.0) << j;
    }
    if (j["kind"] == "quantize") {
      EXPECT_TRUE(fs::exists(run / j["output"]["path"].get<std::string>())) << j;
      EXPECT_EQ(j["output"]["sha256"].get<std::string>().size(), 64u);
      EXPECT_GT(j["figures"]["bits_per_weight"].get<double>(), 4.0);
      EXPECT_EQ(j["inputs"]["base"]["sha256"].get<std::string>().size(), 64u);
    }
    if (j["kind"] == "mc") {
      EXPECT_EQ(j["figures"]["questions"], 12);
    }
  }
  ASSERT_EQ(by_config.size(), 8u);
  // Sanity of the figures: 8-bit formats move the model far less than 4-bit ones.
  EXPECT_LT(by_config["Q8_0"]["kld_mean"].get<double>(), by_config["nf4"]["kld_mean"].get<double>());
  EXPECT_LT(by_config["rtn-w8"]["kld_mean"].get<double>(), by_config["Q4_0-imatrix-groups_merged"]["kld_mean"].get<double>());
  EXPECT_TRUE(leftovers(run).empty());

  const auto before = cell_files(run);
  const auto second = sweep(run);
  EXPECT_EQ(second["reused"].get<size_t>(), n) << second;
  EXPECT_EQ(second["computed"].get<size_t>(), 0u) << second;
  EXPECT_EQ(cell_files(run), before) << "a reused cell's result is not rewritten";
}

TEST_F(SweepRun, ADeletedResultIsTheOnlyCellComputedAgainWithTheSameResult) {
  const fs::path run = dir_ / "run";
  const auto first = sweep(run);
  const size_t n = first["cells"].get<size_t>();
  auto before = cell_files(run);
  for (const std::string prefix : {"quantize.tiny.gptq-w8-groups_merged.", "kld.tiny.nf4.wiki."}) {
    SCOPED_TRACE(prefix);
    std::string name;
    for (const auto& [f, text] : before)
      if (f.rfind(prefix, 0) == 0) name = f;
    ASSERT_FALSE(name.empty());
    fs::remove(run / "cells" / name);
    const auto again = sweep(run);
    EXPECT_EQ(again["computed"].get<size_t>(), 1u) << again;
    EXPECT_EQ(again["reused"].get<size_t>(), n - 1) << again;
    const auto after = cell_files(run);
    ASSERT_EQ(after.size(), before.size());
    for (const auto& [f, text] : before) {
      if (f == name) {
        EXPECT_EQ(deterministic(after.at(f)), deterministic(text)) << "recomputed with other results: " << f;
      } else {
        EXPECT_EQ(after.at(f), text) << "touched: " << f;
      }
    }
    before = after;
  }
}

TEST_F(SweepRun, AChangedSettingRecomputesExactlyTheCellsItDecides) {
  const fs::path run = dir_ / "run";
  const size_t n = sweep(run)["cells"].get<size_t>();
  // The same recipe with 3 perplexity chunks instead of 4, beside the run (its asset roles resolved
  // by the checkout's tools/fetch-assets).
  std::string text = test::read_text(recipe());
  const std::string from = "ppl: {file: asset:wikitext2, ctx: 128, chunks: 4}";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "ppl: {file: asset:wikitext2, ctx: 128, chunks: 3}");
  test::write_text(dir_ / "changed.yaml", text);
  const auto r = test::run_command("QUANTLAB_FETCH_ASSETS=" + test::shell_quote((test::source_dir() / "tools/fetch-assets").string()) +
                                   " " + test::shell_quote(test::cli_path().string()) + " sweep " +
                                   test::shell_quote((dir_ / "changed.yaml").string()) + " --out " + test::shell_quote(run.string()) +
                                   " --json </dev/null");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cells"].get<size_t>(), n);
  EXPECT_EQ(j["computed"].get<size_t>(), 9u) << "the base's and the 8 files' perplexity: " << j;
  EXPECT_EQ(j["reused"].get<size_t>(), n - 9) << j;
  // The old results stay (another key, another id) beside the new ones.
  EXPECT_EQ(cell_files(run).size(), n + 9);
}

TEST_F(SweepRun, KillNineMidSweepThenTheSameCommandFinishesEveryCellExactlyOnce) {
  const fs::path run = dir_ / "run";
  const std::string bin = test::cli_path().string(), rec = recipe().string(), out = run.string();
  const char* argv[] = {bin.c_str(), "sweep", rec.c_str(), "--out", out.c_str(), "--json", nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, bin.c_str(), &fa, nullptr, const_cast<char* const*>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  // Killed as soon as the first result is there: mid-sweep (the whole sweep takes seconds, a cell milliseconds).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (cell_files(run).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st)) << "the sweep finished before it could be killed";
  const auto done_before = cell_files(run);
  ASSERT_FALSE(done_before.empty());

  const auto rerun = sweep(run);
  const size_t n = rerun["cells"].get<size_t>();
  EXPECT_EQ(rerun["reused"].get<size_t>(), done_before.size()) << rerun;
  EXPECT_EQ(rerun["computed"].get<size_t>() + done_before.size(), n) << "every cell exactly once: " << rerun;
  const auto after = cell_files(run);
  EXPECT_EQ(after.size(), n);
  for (const auto& [f, text] : done_before) EXPECT_EQ(after.at(f), text) << "a cell done before the kill changed: " << f;
  EXPECT_TRUE(leftovers(run).empty());
  // And its figures are those of a sweep never killed.
  const fs::path clean = dir_ / "clean";
  sweep(clean);
  for (const auto& [f, text] : cell_files(clean)) {
    auto a = nlohmann::json::parse(text), b = nlohmann::json::parse(after.at(f));
    EXPECT_EQ(a["figures"], b["figures"]) << f;
  }
}

TEST_F(SweepRun, OneOrTwoCellsAtOnceGiveTheSameFigures) {
  const auto one = sweep(dir_ / "p1", "--parallel 1 --threads 2");
  const auto two = sweep(dir_ / "p2", "--parallel 2 --threads 2");
  EXPECT_EQ(one["computed"], two["computed"]);
  const auto a = cell_files(dir_ / "p1"), b = cell_files(dir_ / "p2");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (const auto& [f, text] : a) {
    ASSERT_TRUE(b.count(f)) << f;
    const auto ja = nlohmann::json::parse(text), jb = nlohmann::json::parse(b.at(f));
    EXPECT_EQ(ja["figures"], jb["figures"]) << f;
    EXPECT_EQ(ja["run"]["threads"], 2);
    EXPECT_EQ(jb["run"]["threads"], 1);
  }
}

}  // namespace
