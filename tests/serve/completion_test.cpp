// run_completion on its own: held-back text (unfinished UTF-8, a stop sequence's start), stop
// sequences, cancellation, and prefix reuse giving the very reply a fresh session gives.
#include "test_support.hpp"

#include "quantlab/model/activation_observer.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/serve/completion.hpp"

namespace quantlab::serve {
namespace {

TEST(ServeCompletion, HeldBackTextIsAStopSequencesStartOrAnUnfinishedCharacter) {
  const std::vector<std::string> stops = {"\n\n", "END"};
  EXPECT_EQ(pending_stop_prefix("abc", stops), 0u);
  EXPECT_EQ(pending_stop_prefix("abc\n", stops), 1u);
  EXPECT_EQ(pending_stop_prefix("abcEN", stops), 2u);
  EXPECT_EQ(pending_stop_prefix("abcE", stops), 1u);
  EXPECT_EQ(pending_stop_prefix("", stops), 0u);
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xC3"), 1u);          // first byte of é
  EXPECT_EQ(incomplete_utf8_tail("a\xC3\xA9"), 0u);      // é
  EXPECT_EQ(incomplete_utf8_tail("\xE3\x81"), 2u);       // two of the three bytes of あ
  EXPECT_EQ(incomplete_utf8_tail("\xE3\x81\x82"), 0u);   // あ
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);   // three of the four bytes of an emoji
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);
}

class ServeCompletionModel : public ::testing::Test {
 protected:
  static std::filesystem::path path() {
    return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
  }
  void SetUp() override {
    QUANTLAB_REQUIRE_FILE(path());
    model_ = std::make_unique<Model>(load_model(path()));
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(path()));
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(ServeCompletionModel, StopSequencesEndTheReplyBeforeThemAndPiecesAddUp) {
  ThreadPool pool(1);
  Session s(*model_, pool, 128);
  const auto prompt = tokenizer_->encode("1, 2, 3, 4, 5,", true, true);
  CompletionParams p;
  p.max_tokens = 24;
  const CompletionOutput free_run = run_completion(s, *tokenizer_, prompt, p);
  ASSERT_NE(free_run.text.find(" 8,"), std::string::npos) << free_run.text;
  p.stop = {" 8,", "zzz"};
  std::string pieces;
  const CompletionOutput stopped = run_completion(s, *tokenizer_, prompt, p, [&](std::string_view piece) {
    pieces += piece;
    return true;
  });
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(" 8,")));
  EXPECT_EQ(pieces, stopped.text);
  EXPECT_EQ(stopped.finish, FinishReason::Stop);
  EXPECT_LT(stopped.tokens.size(), free_run.tokens.size());
  // A sink that says no cancels at its first piece (" " waited: it may start " 8,").
  const CompletionOutput cancelled = run_completion(s, *tokenizer_, prompt, p, [](std::string_view) { return false; });
  EXPECT_EQ(cancelled.finish, FinishReason::Cancelled);
  EXPECT_EQ(cancelled.text, " 6");
  EXPECT_EQ(cancelled.tokens.size(), 2u);
}

// Counts the tokens a session runs (rows entering layer 0).
struct TokensRun : ActivationObserver {
  int64_t n = 0;
  void on_linear_input(int layer, LinearInput which, const float*, int64_t n_tokens, int64_t) override {
    if (layer == 0 && which == LinearInput::AttnQKV) n += n_tokens;
  }
};

TEST_F(ServeCompletionModel, APromptSharingAPrefixWithTheCacheGivesTheFreshSessionsReply) {
  ThreadPool pool(1);
  Session reused(*model_, pool, 256);
  TokensRun run;
  reused.set_observer(&run);
  std::vector<int32_t> cached;
  CompletionParams p;
  p.max_tokens = 8;
  p.sampling.temperature = 0.9f;
  p.sampling.seed = 5;
  const std::string shared = "You are a judge. Rate the answer from 1 to 5 and explain briefly. Question: ";
  for (const std::string q : {"What is 2+2? Answer: 4.", "What is 2+3? Answer: 6.", "What is 2+3? Answer: 6."}) {
    SCOPED_TRACE(q);
    const auto prompt = tokenizer_->encode(shared + q, true, true);
    size_t common = 0;
    while (common < std::min(cached.size(), prompt.size() - 1) && cached[common] == prompt[common]) ++common;
    run.n = 0;
    const CompletionOutput a = run_completion(reused, *tokenizer_, prompt, p, {}, &cached);
    Session fresh(*model_, pool, 256);
    const CompletionOutput b = run_completion(fresh, *tokenizer_, prompt, p);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.text, b.text);
    // The cache now holds the prompt and every reply token that was run.
    ASSERT_GE(cached.size(), prompt.size());
    EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), cached.begin()));
    EXPECT_EQ(int64_t(cached.size()), reused.position());
    // Only the prompt's new part ran (then one token per reply token fed back).
    EXPECT_EQ(run.n, int64_t(prompt.size() - common) + int64_t(cached.size() - prompt.size()));
    if (q != "What is 2+2? Answer: 4.") {
      EXPECT_GT(common, 15u);
    }
  }
}

}  // namespace
}  // namespace quantlab::serve
