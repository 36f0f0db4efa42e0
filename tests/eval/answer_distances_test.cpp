// eval answers' distances and aggregates on hand-built replies whose embeddings are known (a
// letter-count embedding, so every distance can be worked out by hand), and the hidden-state
// backbone against the model's own logits (the LM head is linear: the mean of the logits rows is
// the head applied to the mean hidden state).
#include "model/reference_fixture.hpp"
#include "quantlab/eval/answer_distances.hpp"
#include "quantlab/eval/answer_generation.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace quantlab {
namespace {

TEST(AnswerDistances, CosineDistanceAndMeanL1) {
  const EmbeddingDistance d = embedding_distance({1, 0, 0, 0}, {0, 2, 0, 0});
  EXPECT_DOUBLE_EQ(d.cosine, 1.0);
  EXPECT_DOUBLE_EQ(d.l1, 3.0 / 4);
  const EmbeddingDistance same = embedding_distance({1, 2}, {2, 4});
  EXPECT_NEAR(same.cosine, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(same.l1, 1.5);
  test::expect_typed([] { embedding_distance({1}, {1, 2}); }, "embedding", "dimension");
}

// Embedding: counts of 'a' and 'b'. L1 between "a"x and "b"y texts is easy to add up.
EmbeddingBackbone counts() {
  return {"ab", [](const std::string& t) {
            std::vector<float> v(2, 0.0f);
            for (char c : t) {
              if (c == 'a') v[0] += 1;
              if (c == 'b') v[1] += 1;
            }
            return v;
          }};
}

// Base, one model; two prompts (the first with a reference); greedy + seeds 0, 1, 2.
AnswerSet hand_built() {
  AnswerSet s;
  s.name = "set";
  s.conditions = {"base", "q"};
  s.prompt_ids = {"p0", "p1"};
  s.references = {std::string("aaaa"), std::nullopt};
  s.greedy = true;
  s.seeds = {0, 1, 2};
  s.text = {{{"aa", "aa", "aaaa", "aa"}, {"b", "b", "bb", "bbb"}},     // base: greedy, s0, s1, s2
            {{"aa", "a", "aaaa", "aaa"}, {"bb", "b", "bb", "b"}}};    // q
  return s;
}

TEST(AnswerDistances, BaselineSameSeedNextSeedAndReference) {
  const auto d = answer_distances(hand_built(), {counts()}, {200, 0.9, 1});
  ASSERT_EQ(d.size(), 1u);
  const BackboneDistances& b = d[0];
  // L1 is the mean over the 2 dimensions.
  // Base baseline (seed i vs i+1): p0: |2-4|/2=1, |4-2|/2=1 -> 1; p1: 0.5, 0.5 -> 0.5. Mean 0.75.
  ASSERT_TRUE(b.sampled_l1[0].to_base);
  EXPECT_DOUBLE_EQ(b.sampled_l1[0].to_base->mean.mean, 0.75);
  EXPECT_EQ(b.sampled_l1[0].to_base->per_prompt, (std::vector<double>{1.0, 0.5}));
  // q same seed: p0: s0 |1-2|/2=.5, s1 0, s2 |3-2|/2=.5 -> 1/3; p1: 0, 0, |1-3|/2=1 -> 1/3.
  EXPECT_NEAR(b.sampled_l1[1].to_base->mean.mean, 1.0 / 3, 1e-12);
  // q next seed (q seed i vs base seed i+1): p0: |1-4|/2=1.5, |4-2|/2=1 -> 1.25; p1: |1-2|/2=.5,
  // |2-3|/2=.5 -> .5. Mean .875; excess over the baseline: (1.25-1 + .5-.5)/2 = .125.
  EXPECT_NEAR(b.sampled_l1[1].to_base_next_seed->mean.mean, 0.875, 1e-12);
  EXPECT_NEAR(b.sampled_l1[1].excess_over_baseline->mean, 0.125, 1e-12);
  // The base's next-seed entry is its baseline.
  EXPECT_EQ(b.sampled_l1[0].to_base_next_seed->per_prompt, b.sampled_l1[0].to_base->per_prompt);
  // To the reference "aaaa" (prompt 0 only): base sampled: (1+0+1)/3; q: (1.5+0+.5)/3.
  EXPECT_NEAR(b.sampled_l1[0].to_reference->mean.mean, 2.0 / 3, 1e-12);
  EXPECT_NEAR(b.sampled_l1[1].to_reference->mean.mean, 2.0 / 3, 1e-12);
  EXPECT_EQ(b.sampled_l1[1].to_reference->prompts, std::vector<size_t>{0});
  EXPECT_NEAR(b.sampled_l1[1].reference_minus_base->mean, 0.0, 1e-12);
  // Greedy: the base's baseline is 0; q: p0 0, p1 |1-2|/2 = .5.
  EXPECT_DOUBLE_EQ(b.greedy_l1[0].to_base->mean.mean, 0.0);
  EXPECT_DOUBLE_EQ(b.greedy_l1[1].to_base->mean.mean, 0.25);
  EXPECT_FALSE(b.greedy_l1[1].to_base_next_seed);
  // Per reply: q's seed-2 reply to p1 ("b" vs base "bbb").
  EXPECT_DOUBLE_EQ(b.replies[1][1][3].to_base->l1, 1.0);
  EXPECT_FALSE(b.replies[0][1][3].to_base);
  EXPECT_FALSE(b.replies[1][1][3].to_reference);
  // Cosine: all texts of one prompt point the same way, so every cosine distance is 0.
  EXPECT_NEAR(b.sampled_cosine[1].to_base->mean.mean, 0.0, 1e-12);
}

TEST(AnswerDistances, HypothesisCellsUseThePairingAsked) {
  const AnswerSet s = hand_built();
  const auto d = answer_distances(s, {counts()}, {100, 0.9, 1});
  const auto next = hypothesis_cells(s, d, E1Pairing::NextSeed);
  ASSERT_EQ(next.size(), 4u);  // greedy cos, greedy l1, sampled cos, sampled l1
  EXPECT_EQ(next[3].cell, "set sampled");
  EXPECT_EQ(next[3].row, "ab l1");
  EXPECT_NEAR(next[3].to_base[0], 0.75, 1e-12);
  EXPECT_NEAR(next[3].to_base[1], 0.875, 1e-12);  // E1 holds
  const auto same = hypothesis_cells(s, d, E1Pairing::SameSeed);
  EXPECT_NEAR(same[3].to_base[1], 1.0 / 3, 1e-12);  // below the baseline: E1 fails
  EXPECT_EQ(next[1].cell, "set greedy");
  EXPECT_EQ(next[1].to_base, (std::vector<double>{0.0, 0.25}));
  EXPECT_EQ(next[1].to_reference.size(), 2u);
}

TEST(AnswerDistances, OneSeedHasNoBaselineAndNoCell) {
  AnswerSet s = hand_built();
  s.greedy = false;
  s.seeds = {0};
  for (auto& c : s.text)
    for (auto& p : c) p = {p[1]};
  const auto d = answer_distances(s, {counts()}, {100, 0.9, 1});
  EXPECT_FALSE(d[0].sampled_l1[0].to_base);
  EXPECT_TRUE(d[0].sampled_l1[1].to_base);
  EXPECT_TRUE(hypothesis_cells(s, d, E1Pairing::NextSeed).empty());
  s.text[1].pop_back();
  test::expect_typed([&] { answer_distances(s, {counts()}, {100, 0.9, 1}); }, "set", "text");
}

TEST(AnswerDistances, MeanHiddenStateIsWhatTheHeadReads) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  const auto tok_path = test::shared_dir() / "models" / "aidreams260K" / "tok512.bin";
  QUANTLAB_REQUIRE_FILE(tok_path);
  const Model m = load_model(test::aidreams_model().string());
  const Tokenizer tok = Tokenizer::load(tok_path.string());
  ThreadPool pool(1);
  Session s(m, pool, 64);
  const std::string text = "Once upon a time there was a cat.";
  const std::vector<float> h = mean_final_hidden_state(s, tok, text);
  const auto& c = m.config;
  ASSERT_EQ(h.size(), size_t(c.n_embd));
  EXPECT_EQ(s.position(), 0);  // rewound, ready for the next text
  // The same text's logits, BOS row left out, averaged; the head applied to h must give them.
  std::vector<int32_t> ids = tok.encode(text, false, false);
  ASSERT_TRUE(tok.add_bos());
  ids.insert(ids.begin(), tok.bos_id());
  s.rewind(0);
  const auto rows = s.forward(ids, 1);
  const int64_t n = int64_t(ids.size()) - 1;
  const float* w = static_cast<const float*>(m.output.data);
  double worst = 0;
  for (int64_t v = 0; v < c.n_vocab; ++v) {
    double mean_logit = 0, head = 0;
    for (int64_t t = 0; t < n; ++t) mean_logit += rows[size_t(t * c.n_vocab + v)];
    mean_logit /= double(n);
    for (int64_t i = 0; i < c.n_embd; ++i) head += double(w[v * c.n_embd + i]) * h[size_t(i)];
    worst = std::max(worst, std::abs(head - mean_logit));
  }
  EXPECT_LT(worst, 1e-3);
  // An empty text pools the BOS row alone (not zeros).
  s.rewind(0);
  const std::vector<float> e = mean_final_hidden_state(s, tok, "");
  double norm = 0;
  for (float x : e) norm += double(x) * x;
  EXPECT_GT(norm, 0);
}

TEST(AnswerGeneration, GreedyEqualsArgmaxAndSeedsRepeat) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  const Model m = load_model(test::aidreams_model().string());
  ThreadPool pool(1);
  Session s(m, pool, 64);
  const std::vector<int32_t> prompt{1, 43, 456};
  const GeneratedAnswer g = generate_answer(s, prompt, SamplingParams{}, 8, {});
  EXPECT_EQ(g.tokens.size(), 8u);
  EXPECT_EQ(g.finish, "length");
  // Greedy by hand.
  s.rewind(0);
  auto logits = s.forward_last(prompt);
  for (size_t i = 0; i < g.tokens.size(); ++i) {
    const int32_t t = argmax(logits);
    EXPECT_EQ(t, g.tokens[i]);
    logits = s.forward_last(std::span<const int32_t>(&t, 1));
  }
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.seed = 5;
  const GeneratedAnswer a = generate_answer(s, prompt, sp, 12, {}), b = generate_answer(s, prompt, sp, 12, {});
  EXPECT_EQ(a.tokens, b.tokens);
  // An end token stops the answer and is not part of it.
  size_t k = 1;  // the first token not seen before it
  while (k < g.tokens.size() && std::find(g.tokens.begin(), g.tokens.begin() + long(k), g.tokens[k]) != g.tokens.begin() + long(k)) ++k;
  ASSERT_LT(k, g.tokens.size());
  const GeneratedAnswer stop = generate_answer(s, prompt, SamplingParams{}, 8, {g.tokens[k]});
  EXPECT_EQ(stop.finish, "stop");
  EXPECT_EQ(stop.tokens, std::vector<int32_t>(g.tokens.begin(), g.tokens.begin() + long(k)));
}

// The runs of one prompt share its prefill: every reply equals a generation from scratch.
TEST(AnswerGeneration, ConditionRepliesEqualGenerationsFromScratch) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  const auto tok_path = test::shared_dir() / "models" / "aidreams260K" / "tok512.bin";
  QUANTLAB_REQUIRE_FILE(tok_path);
  const Model m = load_model(test::aidreams_model().string());
  const Tokenizer tok = Tokenizer::load(tok_path.string());
  ThreadPool pool(1);
  Session s(m, pool, 64);
  const std::vector<std::vector<int32_t>> prompts{{1, 43, 456}, {1, 445, 484, 20}};
  AnswerRunPlan plan;
  plan.greedy = true;
  plan.seeds = 2;
  plan.sampling.temperature = 1.0f;
  plan.max_tokens = 10;
  const auto decode = [&](const std::vector<int32_t>& ids) { return tok.decode(ids, true); };
  ReplyStore store((test::temp_dir("condition-replies") / "r.jsonl").string(), false);
  int opened = 0;
  const ConditionReplies r = condition_replies("set", "m", "id", {"a", "b"}, prompts, plan, {}, [&]() -> Session& {
    ++opened;
    return s;
  }, decode, store);
  EXPECT_EQ(r.generated, 6u);
  EXPECT_GT(opened, 0);
  for (size_t p = 0; p < prompts.size(); ++p)
    for (size_t run = 0; run < 3; ++run) {
      SamplingParams sp = plan.sampling;
      if (run == 0) sp.temperature = 0;
      else sp.seed = run - 1;
      EXPECT_EQ(r.text[p][run], decode(generate_answer(s, prompts[p], sp, 10, {}).tokens)) << p << " " << run;
    }
  EXPECT_NE(r.text[0][1], r.text[0][2]);  // seeds 0 and 1 differ
}

}  // namespace
}  // namespace quantlab
