// judgements.jsonl: what --reuse takes, what it asks again, and a line cut by a kill.
#include "test_support.hpp"

#include "quantlab/eval/judgement_store.hpp"

#include <fstream>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json line(const std::string& key, bool answered, const std::string& content = "A") {
  nlohmann::ordered_json j{{"key", key}, {"answered", answered}};
  if (answered) j["reply"] = {{"content", content}};
  return j;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(JudgementStore, ReuseTakesAnsweredLinesAndAsksFailedOnesAgain) {
  const fs::path p = test::temp_dir("store") / "judgements.jsonl";
  {
    JudgementStore s(p.string(), false);
    s.add(line("k1", true, "A"));
    s.add(line("k2", false));
    s.add(line("k3", true, "B"));
    s.add(line("k3", true, "Even"));  // a later line for a key wins
  }
  JudgementStore s(p.string(), true);
  EXPECT_EQ(s.read_lines(), 4u);
  ASSERT_NE(s.find("k1"), nullptr);
  EXPECT_EQ((*s.find("k1"))["reply"]["content"], "A");
  EXPECT_EQ(s.find("k2"), nullptr) << "a failed request is asked again";
  EXPECT_EQ((*s.find("k3"))["reply"]["content"], "Even");
  EXPECT_EQ(s.find("k4"), nullptr);
  s.add(line("k2", true));
  JudgementStore again(p.string(), true);
  EXPECT_NE(again.find("k2"), nullptr);
  fs::remove_all(p.parent_path());
}

TEST(JudgementStore, ALineCutByAKillIsDroppedAndTheFileMended) {
  const fs::path p = test::temp_dir("store-cut") / "judgements.jsonl";
  {
    JudgementStore s(p.string(), false);
    s.add(line("k1", true));
    s.add(line("k2", true));
  }
  std::string bytes = slurp(p);
  const size_t first_end = bytes.find('\n') + 1;
  { std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes.substr(0, first_end + 10); }
  {
    JudgementStore s(p.string(), true);
    EXPECT_NE(s.find("k1"), nullptr);
    EXPECT_EQ(s.find("k2"), nullptr);
    s.add(line("k2", true));
  }
  EXPECT_EQ(slurp(p), bytes) << "the cut line is gone and the new one follows the last whole line";
  fs::remove_all(p.parent_path());
}

TEST(JudgementStore, WithoutReuseTheFileStartsEmpty) {
  const fs::path p = test::temp_dir("store-fresh") / "judgements.jsonl";
  { JudgementStore(p.string(), false).add(line("k1", true)); }
  { JudgementStore s(p.string(), false); }
  EXPECT_EQ(slurp(p), "");
  fs::remove_all(p.parent_path());
}

TEST(JudgementStore, ADamagedLineNamesFileLineAndField) {
  const fs::path d = test::temp_dir("store-bad");
  const fs::path p = d / "judgements.jsonl";
  { std::ofstream(p) << R"({"key": "k1", "answered": true})" << "\n" << "not json\n" << R"({"key": "k3", "answered": true})" << "\n"; }
  test::expect_typed([&] { JudgementStore(p.string(), true); }, p.string() + ":2", "json");
  { std::ofstream(p) << R"({"answered": true})" << "\n"; }
  test::expect_typed([&] { JudgementStore(p.string(), true); }, p.string() + ":1", "key");
  { std::ofstream(p) << R"({"key": "k", "answered": "yes"})" << "\n"; }
  test::expect_typed([&] { JudgementStore(p.string(), true); }, p.string() + ":1", "answered");
  fs::remove_all(d);
}

}  // namespace
}  // namespace quantlab
