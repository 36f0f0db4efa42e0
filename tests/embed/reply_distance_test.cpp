// eval chat's reply distances (seed 001): each model's reply against the base's reply to the same
// prompt, the end token and the window after it left out.
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/eval/chat_eval.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace quantlab {
namespace {

GeneratedReply reply(std::vector<int32_t> tokens, int64_t end_index) {
  GeneratedReply g;
  g.behaviour.reply_tokens = end_index >= 0 ? end_index + 1 : int64_t(tokens.size());
  g.end_index = end_index;
  g.tokens = std::move(tokens);
  return g;
}

TEST(ReplyDistance, EachReplyIsComparedWithTheBasesWithoutItsEndToken) {
  const auto dir = test::assets_dir() / "models/all-minilm-l6-v2";
  QUANTLAB_REQUIRE_FILE(dir / "model.safetensors");
  // Token i is word i; 99 is the end of turn, 98 text after it (never embedded).
  const std::vector<std::string> words = {"The", " cat", " sits", " on", " the", " mat", ".", " A", " dog", " barks"};
  const DecodeFn text = [&](std::span<const int32_t> ids) {
    std::string s;
    for (int32_t id : ids) {
      EXPECT_TRUE(id >= 0 && id < int32_t(words.size())) << "token " << id << " was embedded";
      s += words[size_t(id)];
    }
    return s;
  };
  ChatEvalResult r;
  r.base.per_prompt = {reply({0, 1, 2, 3, 4, 5, 6, 99, 98}, 7), reply({7, 8, 9}, -1)};
  r.models.resize(2);
  r.models[0].per_prompt = {reply({0, 1, 2, 3, 4, 5, 6, 99}, 7), reply({7, 8, 9, 99, 98, 98}, 3)};  // the same text
  r.models[1].per_prompt = {reply({7, 8, 9, 99}, 3), reply({0, 1, 2, 3, 4, 5, 6}, -1)};
  ThreadPool pool(2);
  const SentenceEncoder enc(dir.string(), pool);
  add_reply_distances(r, enc, text);
  for (const GeneratedReply& g : r.models[0].per_prompt) {
    EXPECT_NEAR(*g.cosine_to_base, 1.0, 1e-6);
    EXPECT_NEAR(*g.l1_to_base, 0.0, 1e-6);
  }
  const double cross = cosine_similarity(enc.encode("The cat sits on the mat."), enc.encode(" A dog barks"));
  EXPECT_DOUBLE_EQ(*r.models[1].per_prompt[0].cosine_to_base, cross);
  EXPECT_DOUBLE_EQ(*r.models[1].mean_cosine_to_base, cross);
  EXPECT_LT(cross, 0.5);
  const std::vector<float> a = enc.encode("The cat sits on the mat."), b = enc.encode(" A dog barks");
  double l1 = 0;
  for (size_t i = 0; i < a.size(); ++i) l1 += std::fabs(double(a[i]) - double(b[i]));
  EXPECT_NEAR(*r.models[1].mean_l1_to_base, l1 / double(a.size()), 1e-12) << "the mean over dimensions";
  EXPECT_FALSE(r.base.per_prompt[0].cosine_to_base.has_value());
}

}  // namespace
}  // namespace quantlab
