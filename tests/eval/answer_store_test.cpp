// The reply store of eval answers: lines round-trip, --reuse finds them by key, a last line cut by a
// kill is dropped (and the file stays appendable), a damaged line elsewhere is an error naming it.
#include "quantlab/eval/answer_store.hpp"
#include "../io/io_test_util.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace quantlab {
namespace {

StoredReply reply(const std::string& key, int64_t seed) {
  return {"set.jsonl", "m.gguf", "p1", seed, "Hello \"there\"\n", 3, "stop", key};
}

TEST(AnswerStore, RoundTripAndReuse) {
  const auto path = (test::temp_dir("answer-store") / "replies.jsonl").string();
  {
    ReplyStore s(path, false);
    s.add(reply("k1", -1));
    s.add(reply("k2", 4));
  }
  ReplyStore again(path, true);
  const StoredReply* g = again.find("k1");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seed, -1);
  EXPECT_EQ(g->text, "Hello \"there\"\n");
  ASSERT_TRUE(again.find("k2"));
  EXPECT_EQ(again.find("k2")->seed, 4);
  EXPECT_FALSE(again.find("k3"));
  // Without --reuse the file starts empty.
  ReplyStore fresh(path, false);
  EXPECT_FALSE(fresh.find("k1"));
}

TEST(AnswerStore, CutLastLineIsDroppedDamagedLineIsAnError) {
  const auto path = (test::temp_dir("answer-store-cut") / "replies.jsonl").string();
  {
    ReplyStore s(path, false);
    s.add(reply("k1", 0));
    s.add(reply("k2", 1));
  }
  std::string text = test::read_text(path);
  std::filesystem::resize_file(path, text.size() - 10);  // the kill came mid-line
  {
    ReplyStore s(path, true);
    EXPECT_TRUE(s.find("k1"));
    EXPECT_FALSE(s.find("k2"));
    s.add(reply("k3", 2));
  }
  ReplyStore s(path, true);
  EXPECT_TRUE(s.find("k1"));
  EXPECT_TRUE(s.find("k3"));
  s.add(reply("k4", 3));
  EXPECT_FALSE(s.find("k4"));  // only replies read at start are reused
  std::ofstream(path, std::ios::binary) << "{not json\n" << reply("k1", 0).to_json().dump() << "\n";
  test::expect_typed([&] { ReplyStore(path, true); }, path + ":1", "json");
  std::ofstream(path, std::ios::binary) << "{\"prompt_set\":\"s\"}\n";
  test::expect_typed([&] { ReplyStore(path, true); }, path + ":1", "model");
}

}  // namespace
}  // namespace quantlab
