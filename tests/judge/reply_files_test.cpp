// Reading eval answers folders for the judge: the last line for a reply wins (across folders, in
// the order given), models are named as the replies name them or by file name, and damage is named.
#include "test_support.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/reply_files.hpp"

#include <fstream>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

std::string reply(const std::string& model, const std::string& id, const std::string& text, const std::string& seed = "\"greedy\"") {
  return R"({"prompt_set": "p.jsonl", "model": ")" + model + R"(", "prompt_id": ")" + id + R"(", "seed": )" + seed +
         R"(, "text": ")" + text + R"(", "tokens": 1, "finish": "stop", "key": "k"})" + "\n";
}

TEST(ReplyFiles, TheLastLineForAReplyWinsAcrossFoldersInOrder) {
  const fs::path d = test::temp_dir("reply-files");
  fs::create_directories(d / "one");
  fs::create_directories(d / "two");
  { std::ofstream(d / "one" / "replies.jsonl") << reply("/m/base.gguf", "x", "first") << reply("/m/base.gguf", "x", "second") << reply("/m/q4.gguf", "x", "q", "3"); }
  { std::ofstream(d / "two" / "replies.jsonl") << reply("/m/base.gguf", "x", "third") << reply("/n/q4.gguf", "y", "other"); }
  const ReplyIndex ix = read_reply_dirs({(d / "one").string(), (d / "two").string()});
  ASSERT_EQ(ix.files.size(), 2u);
  EXPECT_EQ(ix.files[0].lines, 3u);
  EXPECT_EQ(ix.files[1].sha256, sha256_file((d / "two" / "replies.jsonl").string()));
  const IndexedReply* r = ix.find({"p.jsonl", "/m/base.gguf", "x", -1});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->reply.text, "third");
  EXPECT_EQ(r->where, (d / "two" / "replies.jsonl").string() + ":1");
  EXPECT_EQ(ix.find({"p.jsonl", "/m/q4.gguf", "x", 3})->reply.text, "q");
  EXPECT_EQ(ix.find({"p.jsonl", "/m/q4.gguf", "x", -1}), nullptr);
  EXPECT_EQ(ix.order.size(), 3u) << "each reply once, in the order first read";
  EXPECT_EQ(ix.models, (std::vector<std::string>{"/m/base.gguf", "/m/q4.gguf", "/n/q4.gguf"}));
  EXPECT_EQ(ix.resolve_model("/m/base.gguf", "--base"), "/m/base.gguf");
  EXPECT_EQ(ix.resolve_model("base.gguf", "--base"), "/m/base.gguf");
  test::expect_typed([&] { ix.resolve_model("q4.gguf", "--model"); }, "--model", "q4.gguf");
  test::expect_typed([&] { ix.resolve_model("q8.gguf", "--model"); }, "--model", "q8.gguf");
  fs::remove_all(d);
}

TEST(ReplyFiles, DamageIsNamedByFileLineAndField) {
  const fs::path d = test::temp_dir("reply-files-bad");
  test::expect_typed([&] { read_reply_dirs({(d / "absent").string()}); }, (d / "absent").string(), "replies.jsonl");
  fs::create_directories(d / "empty");
  test::expect_typed([&] { read_reply_dirs({(d / "empty").string()}); }, (d / "empty").string(), "replies.jsonl");
  fs::create_directories(d / "cut");
  { std::ofstream(d / "cut" / "replies.jsonl") << reply("m", "x", "a") << R"({"prompt_set": "p.jsonl", "mo)"; }
  test::expect_typed([&] { read_reply_dirs({(d / "cut").string()}); }, (d / "cut" / "replies.jsonl").string() + ":2", "json");
  fs::create_directories(d / "typed");
  { std::ofstream(d / "typed" / "replies.jsonl") << reply("m", "x", "a") << reply("m", "y", "b", "\"sampled\""); }
  test::expect_typed([&] { read_reply_dirs({(d / "typed").string()}); }, (d / "typed" / "replies.jsonl").string() + ":2", "seed");
  fs::remove_all(d);
}

}  // namespace
}  // namespace quantlab
