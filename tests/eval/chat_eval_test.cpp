// eval chat's driver on a real (tiny) model with a synthetic chat template: KLD is taken on the
// base's reply tokens only, the base's decode-time log-probs equal a teacher-forced pass, and
// results do not depend on the thread count.
#include "model/reference_fixture.hpp"
#include "quantlab/eval/chat_eval.hpp"
#include "quantlab/text/chat_template.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <gtest/gtest.h>

namespace quantlab {
namespace {

std::filesystem::path aidreams_tokenizer() { return test::shared_dir() / "models" / "aidreams260K" / "tok512.bin"; }

const text::ChatTemplate& tiny_template() {
  static const text::ChatTemplate t(
      "{% for m in messages %}{{ m.role }}: {{ m.content }}</s>\n{% endfor %}"
      "{% if add_generation_prompt %}assistant:{% endif %}",
      "tiny", text::ChatSpecialTokens{"<s>", "</s>", std::nullopt, std::nullopt});
  return t;
}

struct Fixture {
  Tokenizer tok = Tokenizer::load(aidreams_tokenizer().string());
  Model base = load_model(test::aidreams_model().string());
  Model changed = base;  // the same model with one matrix scaled: a stand-in for a quantized model
  std::vector<float> wq;
  std::vector<ChatPrompt> prompts;
  ChatTextRules rules;

  Fixture() {
    const WeightMatrix& w = base.layers[0].wq;
    wq.resize(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) row_to_f32(w.format, w.row(r), wq.data() + r * w.cols, w.cols);
    for (size_t i = 0; i < wq.size(); ++i) wq[i] *= (i % 3 == 0) ? 1.3f : 0.9f;
    changed.layers[0].wq = make_weight_matrix(FormatId::F32, wq.data(), w.rows, w.cols);
    const char* questions[] = {"Tell me about the cat.", "Where did Lily go?", "What did Tom find in the park?"};
    for (const char* q : questions) {
      const nlohmann::ordered_json msgs = nlohmann::ordered_json::array({{{"role", "user"}, {"content", q}}});
      // The last prompt claims to be Japanese: every (English) reply to it is in the wrong language.
      prompts.push_back({tok.encode(tiny_template().apply(msgs, true), true, true), q, prompts.size() == 2 ? "ja" : "en"});
    }
    rules.end_ids = tok.end_of_generation_ids();
    rules.decode = [this](std::span<const int32_t> ids) { return tok.decode(std::vector<int32_t>(ids.begin(), ids.end())); };
    rules.openers = template_turn_openers(tiny_template());
  }
};

TEST(ChatEval, KldIsTakenOnTheBaseReplyOnly) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(aidreams_tokenizer());
  Fixture f;
  EXPECT_EQ(f.rules.openers, (std::vector<std::string>{"user:", "assistant:", "system:"}));
  ChatEvalOptions o;
  o.max_tokens = 24;
  o.after_end = 8;
  ThreadPool pool(2);
  const int64_t n_ctx = 256;
  Session base(f.base, pool, n_ctx), test(f.changed, pool, n_ctx), same(f.base, pool, n_ctx);
  const ChatEvalResult r = chat_eval(base, {&test, &same}, f.prompts, o, f.rules);
  ASSERT_EQ(r.models.size(), 2u);

  for (const ChatModelStats* s : {&r.base, &r.models[0], &r.models[1]}) {
    EXPECT_EQ(s->wrong_language, 1);
    EXPECT_TRUE(s->per_prompt[2].behaviour.wrong_language);
    EXPECT_EQ(s->per_prompt[2].behaviour.language, "en");
  }

  // The base against itself: nothing diverges and its replies are the base's.
  EXPECT_NEAR(r.models[1].kld.kld_mean, 0.0, 1e-5);  // only the uint16 compression of the base log-probs
  EXPECT_DOUBLE_EQ(r.models[1].kld.same_top, 1.0);
  for (size_t p = 0; p < f.prompts.size(); ++p) EXPECT_EQ(r.models[1].per_prompt[p].tokens, r.base.per_prompt[p].tokens);

  // By hand: both models teacher-forced over prompt + base reply, rows of the reply only.
  KldAccumulator reply_only, with_prompt;
  int64_t reply_tokens = 0;
  const int64_t n_vocab = f.base.config.n_vocab, nv = compressed_logprob_words(n_vocab);
  for (size_t p = 0; p < f.prompts.size(); ++p) {
    const auto& prompt = f.prompts[p].tokens;
    const GeneratedReply& br = r.base.per_prompt[p];
    const int64_t P = int64_t(prompt.size()), R = br.behaviour.reply_tokens;
    ASSERT_GE(R, 1);
    reply_tokens += R;
    std::vector<int32_t> seq(prompt);
    seq.insert(seq.end(), br.tokens.begin(), br.tokens.begin() + R);  // seq[i + 1] is predicted by row i
    base.rewind(0);
    const auto bl = base.forward(std::span<const int32_t>(seq.data(), seq.size() - 1), 0);
    std::vector<uint16_t> words(static_cast<size_t>((P + R - 1) * nv));
    for (int64_t i = 0; i < P + R - 1; ++i) compress_logprobs(bl.data() + i * n_vocab, n_vocab, seq[size_t(i + 1)], words.data() + i * nv);
    test.rewind(0);
    const auto tl = test.forward(std::span<const int32_t>(seq.data(), seq.size() - 1), 0);
    for (int64_t i = 0; i < P + R - 1; ++i) {
      with_prompt.add(tl.data() + i * n_vocab, words.data() + i * nv, n_vocab, seq[size_t(i + 1)]);
      if (i >= P - 1) reply_only.add(tl.data() + i * n_vocab, words.data() + i * nv, n_vocab, seq[size_t(i + 1)]);
    }
  }
  const KldSummary& got = r.models[0].kld;
  EXPECT_EQ(got.count, reply_tokens);
  EXPECT_GT(got.kld_mean, 0.0);
  // Bit-identical: the base's decode-time log-probs are those of the teacher-forced pass.
  EXPECT_EQ(got.kld_mean, reply_only.summary().kld_mean);
  EXPECT_EQ(got.same_top, reply_only.summary().same_top);
  EXPECT_NE(got.kld_mean, with_prompt.summary().kld_mean);
  EXPECT_GT(with_prompt.count(), got.count);

  // Every reply is classified; the counts add up.
  for (const ChatModelStats* s : {&r.base, &r.models[0]}) {
    EXPECT_EQ(s->replies, int64_t(f.prompts.size()));
    EXPECT_EQ(s->clean_end + s->new_turn + s->never_ends, s->replies);
    for (const GeneratedReply& g : s->per_prompt) {
      EXPECT_LE(g.behaviour.reply_tokens, o.max_tokens);
      if (g.end_index >= 0) {
        EXPECT_LE(int64_t(g.tokens.size()) - g.end_index - 1, o.after_end);
      }
    }
  }
}

TEST(ChatEval, SameResultsForAnyThreadCount) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(aidreams_tokenizer());
  Fixture f;
  ChatEvalOptions o;
  o.max_tokens = 20;
  o.after_end = 6;
  auto run = [&](int threads) {
    ThreadPool pool(threads);
    Session base(f.base, pool, 256), test(f.changed, pool, 256);
    return chat_eval(base, {&test}, f.prompts, o, f.rules);
  };
  const ChatEvalResult a = run(1), b = run(3);
  EXPECT_EQ(a.models[0].kld.kld_mean, b.models[0].kld.kld_mean);
  EXPECT_EQ(a.models[0].kld.same_top, b.models[0].kld.same_top);
  for (size_t p = 0; p < f.prompts.size(); ++p) {
    EXPECT_EQ(a.base.per_prompt[p].tokens, b.base.per_prompt[p].tokens);
    EXPECT_EQ(a.models[0].per_prompt[p].tokens, b.models[0].per_prompt[p].tokens);
    EXPECT_EQ(a.models[0].per_prompt[p].kld_mean, b.models[0].per_prompt[p].kld_mean);
  }
}

// With the end-of-turn token banned from nothing, generation goes past it: a reply that ends gets a
// window, and the window stops at the next end token or at a new turn.
TEST(ChatEval, GenerationGoesPastTheEndOfTurn) {
  QUANTLAB_REQUIRE_FILE(test::aidreams_model());
  QUANTLAB_REQUIRE_FILE(aidreams_tokenizer());
  Fixture f;
  ThreadPool pool(1);
  Session s(f.base, pool, 512);
  ChatEvalOptions o;
  o.max_tokens = 200;
  o.after_end = 40;
  // A story model ends its text with EOS often enough within 200 tokens.
  int ended = 0;
  for (const ChatPrompt& p : f.prompts) {
    s.rewind(0);
    const auto first = s.forward_last(p.tokens);
    const GeneratedReply g = generate_chat_reply(s, first, o, f.rules);
    if (g.end_index < 0) continue;
    ++ended;
    EXPECT_TRUE(f.rules.end_ids.count(g.tokens[size_t(g.end_index)]));
    for (int64_t i = 0; i < g.end_index; ++i) EXPECT_FALSE(f.rules.end_ids.count(g.tokens[size_t(i)]));
    // Inside the window only its last token may be an end token.
    for (size_t i = size_t(g.end_index) + 1; i + 1 < g.tokens.size(); ++i) EXPECT_FALSE(f.rules.end_ids.count(g.tokens[i]));
  }
  EXPECT_GT(ended, 0) << "no reply ended within 200 tokens; the window was not exercised";
}

}  // namespace
}  // namespace quantlab
