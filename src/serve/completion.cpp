#include "quantlab/serve/completion.hpp"

#include <algorithm>

namespace quantlab::serve {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "?";
}

size_t pending_stop_prefix(std::string_view text, const std::vector<std::string>& stops) {
  size_t longest = 0;
  for (const std::string& s : stops)
    for (size_t n = std::min(s.size() - 1, text.size()); n > longest; --n)
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        longest = n;
        break;
      }
  return longest;
}

size_t incomplete_utf8_tail(std::string_view text) {
  // Walk back over at most 3 continuation bytes to the lead byte; the character is unfinished when
  // the lead byte announces more bytes than follow it.
  for (size_t back = 1; back <= std::min<size_t>(4, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;  // only continuation bytes (not UTF-8 anyway): nothing to wait for
}

namespace {

// Tracks the decoded reply and hands out the part of it that can no longer change.
class TextEmitter {
 public:
  TextEmitter(const std::vector<std::string>& stops, const TextSink& sink, std::string& out)
      : stops_(stops), sink_(sink), out_(out) {
    for (const std::string& s : stops_) max_stop_ = std::max(max_stop_, s.size());
  }

  // `full`: the decoded reply so far. Returns false when the client cancelled; sets `stopped` when
  // a stop sequence appeared (the text before it is emitted, the sequence itself never).
  bool update(const std::string& full, bool final, bool& stopped) {
    if (full.size() < out_.size() || full.compare(0, out_.size(), out_) != 0) return true;  // not prefix-stable yet
    size_t end = full.size();
    size_t stop_at = std::string::npos;
    // A stop sequence can only start where text is not emitted yet (held back text included).
    const size_t from = out_.size() >= max_stop_ ? out_.size() - max_stop_ : 0;
    for (const std::string& s : stops_) stop_at = std::min(stop_at, full.find(s, from));
    if (stop_at != std::string::npos) {
      end = std::max(stop_at, out_.size());
      stopped = true;
    } else if (!final) {
      end -= std::max(pending_stop_prefix(full, stops_), incomplete_utf8_tail(full));
    }
    if (end <= out_.size()) return true;
    const std::string_view piece = std::string_view(full).substr(out_.size(), end - out_.size());
    out_.append(piece);
    return !sink_ || sink_(piece);
  }

 private:
  const std::vector<std::string>& stops_;
  const TextSink& sink_;
  std::string& out_;
  size_t max_stop_ = 0;
};

}  // namespace

CompletionOutput run_completion(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                                const CompletionParams& params, const TextSink& on_text, std::vector<int32_t>* cached) {
  CompletionOutput r;
  r.prompt_tokens = int64_t(prompt.size());
  // At least the prompt's last token runs: its logits choose the first reply token.
  size_t keep = 0;
  if (cached) {
    const size_t limit = std::min({cached->size(), prompt.size() - 1, size_t(session.position())});
    while (keep < limit && (*cached)[keep] == prompt[keep]) ++keep;
    cached->clear();  // until the cache is known again (an exception leaves it empty)
  }
  session.rewind(int64_t(keep));
  std::vector<int32_t> history(prompt.begin(), prompt.end());  // what the cache will hold
  Sampler sampler(params.sampling);
  TextEmitter emitter(params.stop, on_text, r.text);
  std::vector<int32_t> reply;  // sampled tokens without the end token
  std::span<const float> logits = session.forward_last(prompt.subspan(keep));
  auto finish = [&](FinishReason why) {
    r.finish = why;
    if (cached) *cached = std::move(history);
    return r;
  };
  for (int64_t i = 0; i < params.max_tokens; ++i) {
    const int32_t tok = sampler.sample(logits);
    r.tokens.push_back(tok);
    const bool end = tokenizer.is_end_of_generation(tok);
    if (!end) reply.push_back(tok);
    const bool last = end || i + 1 == params.max_tokens;
    bool stopped = false;
    if (!emitter.update(tokenizer.decode(reply), last, stopped)) return finish(FinishReason::Cancelled);
    if (stopped || end) return finish(FinishReason::Stop);
    if (last) break;
    const int32_t one[1] = {tok};
    logits = session.forward_last(one);
    history.push_back(tok);
  }
  return finish(FinishReason::Length);
}

}  // namespace quantlab::serve
