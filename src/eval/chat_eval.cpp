#include "quantlab/eval/chat_eval.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/model/sampler.hpp"

#include <algorithm>

namespace quantlab {

GeneratedReply generate_chat_reply(Session& session, std::span<const float> first_logits, const ChatEvalOptions& o,
                                   const ChatTextRules& rules, const ReplyTokenCallback& on_reply_token) {
  if (o.max_tokens < 1 || o.after_end < 0) throw Error("chat eval", "max_tokens", "must be at least 1");
  GeneratedReply r;
  std::span<const float> logits = first_logits;
  for (;;) {
    const int32_t tok = argmax(logits);
    const int64_t i = int64_t(r.tokens.size());
    if (r.end_index < 0 && on_reply_token) on_reply_token(i, tok, logits);
    r.tokens.push_back(tok);
    const bool is_end = rules.end_ids.count(tok) > 0;
    if (r.end_index < 0) {
      if (is_end) {
        r.end_index = i;
        if (o.after_end == 0) break;
      } else if (i + 1 >= o.max_tokens) {
        break;  // never ended: the reply is max_tokens long
      }
    } else {
      const int64_t in_window = i - r.end_index;
      if (is_end || in_window >= o.after_end) break;
      const std::span<const int32_t> window(r.tokens.data() + r.end_index + 1, size_t(in_window));
      if (find_new_turn(rules.decode(window), rules.openers) != std::string::npos) break;
    }
    logits = session.forward_last(std::span<const int32_t>(&r.tokens.back(), 1));
  }
  r.behaviour = classify_reply(r.tokens, r.end_index, o.max_tokens, rules.decode, rules.openers);
  return r;
}

namespace {

void finish_stats(ChatModelStats& s, const KldAccumulator* acc) {
  s.replies = int64_t(s.per_prompt.size());
  double tokens = 0, repeated = 0;
  for (const GeneratedReply& r : s.per_prompt) {
    const ReplyBehaviour& b = r.behaviour;
    s.clean_end += b.ending == ReplyEnding::Clean;
    s.new_turn += b.ending == ReplyEnding::NewTurn;
    s.never_ends += b.ending == ReplyEnding::NeverEnds;
    s.new_turn_in_reply += b.new_turn_in_reply;
    s.new_turn_after_end += b.new_turn_after_end;
    s.runaway += b.runaway;
    s.wrong_language += b.wrong_language;
    tokens += double(b.reply_tokens);
    repeated += b.repeated_4grams;
  }
  if (s.replies > 0) {
    s.mean_reply_tokens = tokens / double(s.replies);
    s.mean_repeated_4grams = repeated / double(s.replies);
  }
  if (acc) s.kld = acc->summary();
}

}  // namespace

ChatEvalResult chat_eval(Session& base, const std::vector<Session*>& models, const std::vector<ChatPrompt>& prompts,
                         const ChatEvalOptions& o, const ChatTextRules& rules,
                         const std::function<void(size_t, size_t)>& on_prompt) {
  const int64_t n_vocab = base.model().config.n_vocab;
  for (const Session* m : models)
    if (m->model().config.n_vocab != n_vocab)
      throw Error(m->model().source, "n_vocab",
                  "vocabulary of " + std::to_string(m->model().config.n_vocab) + " differs from the base's " +
                      std::to_string(n_vocab));
  const int64_t nv = compressed_logprob_words(n_vocab);
  ChatEvalResult res;
  res.models.resize(models.size());
  std::vector<KldAccumulator> acc(models.size());
  std::vector<uint16_t> base_words;
  std::vector<int32_t> forced;
  std::vector<float> first;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int32_t>& prompt = prompts[p].tokens;
    if (prompt.empty()) throw Error(prompts[p].where, "prompt", "no tokens");
    const int64_t P = int64_t(prompt.size());

    // The base's reply, and its compressed log-probs at every reply position.
    base.rewind(0);
    const auto base_first = base.forward_last(prompt);
    base_words.clear();
    GeneratedReply br = generate_chat_reply(base, base_first, o, rules, [&](int64_t i, int32_t tok, std::span<const float> l) {
      base_words.resize(size_t((i + 1) * nv));
      compress_logprobs(l.data(), n_vocab, tok, base_words.data() + i * nv);
    });
    const int64_t R = br.behaviour.reply_tokens;  // end token included; the window is not scored

    // Each model: the prompt plus the base reply teacher-forced (rows P-1 .. P+R-2 predict the reply
    // tokens; prompt positions are not scored), then its own reply from the same prompt.
    forced.assign(prompt.begin(), prompt.end());
    forced.insert(forced.end(), br.tokens.begin(), br.tokens.begin() + (R - 1));
    for (size_t m = 0; m < models.size(); ++m) {
      Session& s = *models[m];
      s.rewind(0);
      const auto rows = s.forward(forced, P - 1);
      KldAccumulator one;
      for (int64_t j = 0; j < R; ++j) {
        const float* row = rows.data() + j * n_vocab;
        const uint16_t* bw = base_words.data() + j * nv;
        acc[m].add(row, bw, n_vocab, br.tokens[size_t(j)]);
        one.add(row, bw, n_vocab, br.tokens[size_t(j)]);
      }
      first.assign(rows.begin(), rows.begin() + n_vocab);
      s.rewind(P);
      GeneratedReply mr = generate_chat_reply(s, first, o, rules);
      mr.kld_mean = one.summary().kld_mean;
      mr.behaviour.wrong_language = is_wrong_language(prompts[p].language, mr.behaviour.language);
      res.models[m].per_prompt.push_back(std::move(mr));
    }
    br.behaviour.wrong_language = is_wrong_language(prompts[p].language, br.behaviour.language);
    res.base.per_prompt.push_back(std::move(br));
    if (on_prompt) on_prompt(p, prompts.size());
  }
  finish_stats(res.base, nullptr);
  for (size_t m = 0; m < models.size(); ++m) finish_stats(res.models[m], &acc[m]);
  return res;
}

void add_reply_distances(ChatEvalResult& r, const SentenceEncoder& encoder, const DecodeFn& reply_text) {
  auto text_of = [&](const GeneratedReply& g) {
    const int64_t n = g.behaviour.reply_tokens - (g.end_index >= 0 ? 1 : 0);
    return reply_text(std::span<const int32_t>(g.tokens.data(), size_t(std::max<int64_t>(0, n))));
  };
  std::vector<std::vector<float>> base;
  for (const GeneratedReply& g : r.base.per_prompt) base.push_back(encoder.encode(text_of(g)));
  for (ChatModelStats& m : r.models) {
    if (m.per_prompt.size() != base.size())
      throw Error("chat eval", "replies", "a model has " + std::to_string(m.per_prompt.size()) + " replies, the base " +
                                              std::to_string(base.size()));
    double cos_sum = 0, l1_sum = 0;
    for (size_t p = 0; p < base.size(); ++p) {
      GeneratedReply& g = m.per_prompt[p];
      const std::vector<float> e = encoder.encode(text_of(g));
      g.cosine_to_base = cosine_similarity(e, base[p]);
      g.l1_to_base = l1_distance(e, base[p]);
      cos_sum += *g.cosine_to_base;
      l1_sum += *g.l1_to_base;
    }
    if (!base.empty()) {
      m.mean_cosine_to_base = cos_sum / double(base.size());
      m.mean_l1_to_base = l1_sum / double(base.size());
    }
  }
}

}  // namespace quantlab
