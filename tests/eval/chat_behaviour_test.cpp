// The rules that classify a chat reply's ending and repetition (eval/chat_behaviour.hpp), on
// hand-made token streams and on real chat templates' turn markers.
#include "quantlab/core/error.hpp"
#include "quantlab/eval/chat_behaviour.hpp"
#include "quantlab/text/chat_template.hpp"

#include <gtest/gtest.h>

#include <map>

namespace quantlab {
namespace {

const std::vector<std::string> kChatml = {"<|im_start|>user", "<|im_start|>assistant", "<|im_start|>system"};

TEST(ChatBehaviour, TemplateOpenersOfChatmlAndLlama3) {
  const text::ChatTemplate chatml(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      "chatml");
  EXPECT_EQ(template_turn_openers(chatml), kChatml);
  // SmolLM2's BOS text is "<|im_start|>": part of every opener there, so it stays.
  const text::ChatTemplate chatml_bos(chatml.source(), "chatml-bos",
                                      text::ChatSpecialTokens{"<|im_start|>", "<|im_end|>", std::nullopt, std::nullopt});
  EXPECT_EQ(template_turn_openers(chatml_bos), kChatml);
  // A template whose turns carry no markup has no opener that could be told from prose.
  const text::ChatTemplate bare("{% for m in messages %}{{ m.role }}\n{{ m.content }}\n\n{% endfor %}", "bare");
  EXPECT_TRUE(template_turn_openers(bare).empty());
  const text::ChatTemplate llama3(
      "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>"
      "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
      "llama3", text::ChatSpecialTokens{"<|begin_of_text|>", "<|eot_id|>", std::nullopt, std::nullopt});
  const auto o = template_turn_openers(llama3);
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0], "<|start_header_id|>user<|end_header_id|>");
  EXPECT_EQ(o[1], "<|start_header_id|>assistant<|end_header_id|>");
  EXPECT_EQ(o[2], "<|start_header_id|>system<|end_header_id|>");  // a first turn: the BOS is left out
}

TEST(ChatBehaviour, NewTurnMarkers) {
  EXPECT_EQ(find_new_turn("Sure, here it is.\n<|im_start|>user\nAnd now?", kChatml), 18u);
  EXPECT_EQ(find_new_turn("Fine.<|im_start|>assistant", kChatml), 5u);  // a template marker counts anywhere
  EXPECT_EQ(find_new_turn("It rains.\nUser: why?", {}), 10u);
  EXPECT_EQ(find_new_turn("**Assistant:** hello", {}), 0u);
  EXPECT_EQ(find_new_turn("ok\n  ### Instruction\nWrite", {}), 3u);
  EXPECT_EQ(find_new_turn("ok\n### Response:", {}), 3u);
  EXPECT_EQ(find_new_turn("a\nHuman : hi", {}), 2u);
  EXPECT_EQ(find_new_turn("a\nAI: hi", {}), 2u);
  // Ordinary text that mentions roles is not a turn.
  EXPECT_EQ(find_new_turn("### Steps\n1. Boil water", {}), std::string::npos);
  EXPECT_EQ(find_new_turn("The user: a person", {}), std::string::npos);
  EXPECT_EQ(find_new_turn("Users: many", {}), std::string::npos);
  EXPECT_EQ(find_new_turn("Ask the assistant how", {}), std::string::npos);
  EXPECT_EQ(find_new_turn("", kChatml), std::string::npos);
}

TEST(ChatBehaviour, RepeatedFourGrams) {
  const std::vector<int32_t> twice = {1, 2, 3, 4, 1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(repeated_4gram_share(twice), 1.0 - 4.0 / 5.0);  // 5 four-grams, 4 distinct
  EXPECT_DOUBLE_EQ(repeated_4gram_share(std::vector<int32_t>{1, 2, 3}), 0.0);
  EXPECT_DOUBLE_EQ(repeated_4gram_share(std::vector<int32_t>{1, 2, 3, 4, 5, 6}), 0.0);
  const std::vector<int32_t> same(10, 7);
  EXPECT_DOUBLE_EQ(repeated_4gram_share(same), 1.0 - 1.0 / 7.0);
}

TEST(ChatBehaviour, LoopAtTheEnd) {
  std::vector<int32_t> t;
  for (int i = 0; i < 20; ++i) t.push_back(100 + i);  // a non-repeating start
  for (int i = 0; i < 40; ++i) t.push_back(i % 5);    // then period 5
  EXPECT_TRUE(ends_in_loop(t));
  std::vector<int32_t> p16, p17;
  for (int i = 0; i < 40; ++i) p16.push_back(i % 16), p17.push_back(i % 17);
  EXPECT_TRUE(ends_in_loop(p16));
  EXPECT_FALSE(ends_in_loop(p17));
  t.back() = 99;  // the last token breaks the period
  EXPECT_FALSE(ends_in_loop(t));
  EXPECT_FALSE(ends_in_loop(std::vector<int32_t>(31, 1)));  // shorter than the window
  EXPECT_TRUE(ends_in_loop(std::vector<int32_t>(32, 1)));
}

// Tokens 0..: words of a fake vocabulary; decode joins them.
struct FakeVocab {
  std::map<int32_t, std::string> text = {{0, "<|im_end|>"}, {1, "Hello"}, {2, " there."}, {3, "\n"},
                                         {4, "<|im_start|>"}, {5, "user"}, {6, "User: hi"}, {7, " la"},
                                         {8, "<|endoftext|>"}, {9, "こんにちは"}, {10, "東京"}};
  DecodeFn decode() const {
    return [this](std::span<const int32_t> ids) {
      std::string s;
      for (int32_t id : ids) s += text.at(id);
      return s;
    };
  }
};

TEST(ChatBehaviour, ClassifiesEndings) {
  const FakeVocab v;
  // Clean: reply, end of turn, then end of text.
  auto b = classify_reply(std::vector<int32_t>{1, 2, 0, 8}, 2, 16, v.decode(), kChatml);
  EXPECT_EQ(b.ending, ReplyEnding::Clean);
  EXPECT_TRUE(b.ended);
  EXPECT_EQ(b.reply_tokens, 3);
  // The window after the end of turn opens a user turn (seed 000).
  b = classify_reply(std::vector<int32_t>{1, 2, 0, 3, 4, 5, 3}, 2, 16, v.decode(), kChatml);
  EXPECT_EQ(b.ending, ReplyEnding::NewTurn);
  EXPECT_TRUE(b.new_turn_after_end);
  EXPECT_FALSE(b.new_turn_in_reply);
  EXPECT_EQ(b.new_turn_line, "<|im_start|>user\n");
  // A turn written inside the reply, never ended: a new turn, not "never ends".
  b = classify_reply(std::vector<int32_t>{1, 3, 6, 7, 7}, -1, 5, v.decode(), kChatml);
  EXPECT_EQ(b.ending, ReplyEnding::NewTurn);
  EXPECT_TRUE(b.new_turn_in_reply);
  EXPECT_FALSE(b.ended);
  // Never ends, and loops: runaway.
  std::vector<int32_t> loop(40, 7);
  loop[0] = 1;
  b = classify_reply(loop, -1, 40, v.decode(), kChatml);
  EXPECT_EQ(b.ending, ReplyEnding::NeverEnds);
  EXPECT_TRUE(b.runaway);
  EXPECT_EQ(b.reply_tokens, 40);
  EXPECT_NEAR(b.repeated_4grams, 1.0 - 2.0 / 37.0, 1e-12);
  // The same loop that ended before max_tokens is no runaway.
  loop.push_back(0);
  b = classify_reply(loop, 40, 64, v.decode(), kChatml);
  EXPECT_EQ(b.ending, ReplyEnding::Clean);
  EXPECT_FALSE(b.runaway);
  EXPECT_THROW(classify_reply(std::vector<int32_t>{1}, 3, 8, v.decode(), kChatml), Error);
}

// Seed 003 counted Japanese questions answered in English.
TEST(ChatBehaviour, ReplyLanguageAndWrongLanguage) {
  const FakeVocab v;
  EXPECT_EQ(classify_reply(std::vector<int32_t>{1, 2, 0, 9}, 2, 16, v.decode(), kChatml).language, "en");
  // The end token and the window after it do not count: "<|im_end|>" is not English text.
  EXPECT_EQ(classify_reply(std::vector<int32_t>{9, 10, 0, 1}, 2, 16, v.decode(), kChatml).language, "ja");
  EXPECT_EQ(classify_reply(std::vector<int32_t>{10, 0}, 1, 16, v.decode(), kChatml).language, "zh");
  EXPECT_EQ(classify_reply(std::vector<int32_t>{3, 0}, 1, 16, v.decode(), kChatml).language, "none");
  EXPECT_TRUE(is_wrong_language("ja", "en"));
  EXPECT_TRUE(is_wrong_language("en", "ru"));
  EXPECT_FALSE(is_wrong_language("ja", "ja"));
  EXPECT_FALSE(is_wrong_language("ja", "zh"));  // kanji-only Japanese reads as zh
  EXPECT_FALSE(is_wrong_language("zh", "ja"));
  EXPECT_FALSE(is_wrong_language("en", "none"));  // no letters: nothing to judge
  EXPECT_FALSE(is_wrong_language("other", "en"));
  EXPECT_FALSE(is_wrong_language("", "en"));  // the driver was given no language
}

}  // namespace
}  // namespace quantlab
