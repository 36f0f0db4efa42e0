#include "quantlab/eval/multiple_choice.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <string_view>

namespace quantlab {
namespace {

constexpr int64_t kUncondOffset = 1000000;  // OLMo/lm-eval: unconditioned requests of doc d are doc d + 1e6

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Joins pieces by appending (GCC 12 warns falsely about restrict on chains of operator+).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

std::string at_line(int64_t line) { return cat({"line ", std::to_string(line)}); }

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& path, int64_t line) {
  if (!j.is_object() || !j.contains(key)) throw Error(path, cat({at_line(line), ": ", key}), "missing");
  return j[key];
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& path, int64_t line) {
  const auto& v = field(j, key, path, line);
  if (!v.is_string()) throw Error(path, cat({at_line(line), ": ", key}), "expected a string");
  return v.get<std::string>();
}

int64_t int_field(const nlohmann::json& j, const char* key, const std::string& path, int64_t line) {
  const auto& v = field(j, key, path, line);
  if (!v.is_number_integer()) throw Error(path, cat({at_line(line), ": ", key}), "expected an integer");
  return v.get<int64_t>();
}

// A gold index beyond int's range is no choice's index (-1), not one wrapped into range.
int gold_index(int64_t gold) { return gold < 0 || gold > std::numeric_limits<int>::max() ? -1 : int(gold); }

// Shortest common prefix of the sequences, kept below the shortest one so every choice scores at
// least one token.
int64_t shared_prefix(const std::vector<std::vector<int32_t>>& seqs) {
  size_t shortest = std::numeric_limits<size_t>::max();
  for (const auto& s : seqs) shortest = std::min(shortest, s.size());
  size_t n = 0;
  while (n < shortest && std::all_of(seqs.begin(), seqs.end(), [&](const auto& s) { return s[n] == seqs[0][n]; })) ++n;
  return int64_t(std::min(n, shortest - 1));
}

// log p(row's token) = x[token] - logsumexp(x), exp and sum in double. Not perplexity's token_nll,
// which follows llama.cpp's float expf: over a choice of ~100 tokens that moves the sum by ~1e-6.
struct LogSoftmax {
  double max = 0, log_sum = 0;
  explicit LogSoftmax(std::span<const float> x) {
    max = *std::max_element(x.begin(), x.end());
    double sum = 0;
    for (float v : x) sum += std::exp(double(v) - max);
    log_sum = std::log(sum);
  }
  double operator()(std::span<const float> x, int32_t token) const { return double(x[size_t(token)]) - max - log_sum; }
};

// Log-probability of each sequence's tokens after `prefix`; the prefix is run once.
std::vector<double> score_sequences(Session& session, const std::vector<std::vector<int32_t>>& seqs, int64_t prefix) {
  const int64_t n_vocab = session.model().config.n_vocab;
  session.rewind(0);
  const std::span<const float> last = session.forward(std::span<const int32_t>(seqs[0].data(), size_t(prefix)), prefix - 1);
  const std::vector<float> first(last.begin(), last.end());  // predicts token `prefix` of every sequence
  const LogSoftmax first_norm(first);
  std::vector<double> out;
  for (const auto& s : seqs) {
    double lp = first_norm(first, s[size_t(prefix)]);
    const int64_t rest = int64_t(s.size()) - 1 - prefix;  // tokens to run: prefix .. size-2
    if (rest > 0) {
      session.rewind(prefix);
      const std::span<const float> rows = session.forward(std::span<const int32_t>(s.data() + prefix, size_t(rest)), 0);
      for (int64_t k = 0; k < rest; ++k) {
        const auto row = rows.subspan(size_t(k * n_vocab), size_t(n_vocab));
        lp += LogSoftmax(row)(row, s[size_t(prefix + k + 1)]);
      }
    }
    out.push_back(lp);
  }
  return out;
}

}  // namespace

const char* mc_rule_name(McRule r) {
  switch (r) {
    case McRule::Sum: return "sum";
    case McRule::PerToken: return "per-token";
    case McRule::PerChar: return "per-char";
    case McRule::Uncond: return "uncond";
  }
  return "?";
}

std::vector<McQuestion> read_mc_questions(const std::string& path) try {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  std::vector<McQuestion> questions;
  std::map<int64_t, size_t> by_doc;                 // doc_id -> index in questions
  std::map<int64_t, std::vector<std::string>> uncond;  // doc_id -> unconditioned continuations
  std::map<int64_t, int64_t> uncond_line;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(path, at_line(line_no), "not a JSON object");
    if (j.contains("request")) {
      const auto& req = j["request"];
      const int64_t doc = int_field(j, "doc_id", path, line_no);
      const int64_t idx = int_field(j, "idx", path, line_no);
      const std::string context = string_field(req, "context", path, line_no);
      const std::string continuation = string_field(req, "continuation", path, line_no);
      if (doc >= kUncondOffset) {
        auto& conts = uncond[doc - kUncondOffset];
        if (idx != int64_t(conts.size())) throw Error(path, cat({at_line(line_no), ": idx"}), "choices out of order");
        if (conts.empty()) {
          uncond_line[doc - kUncondOffset] = line_no;
          auto it = by_doc.find(doc - kUncondOffset);
          if (it != by_doc.end()) questions[it->second].uncond_context = context;
          else throw Error(path, cat({at_line(line_no), ": doc_id"}), "unconditioned request before its question");
        }
        conts.push_back(continuation);
        continue;
      }
      auto it = by_doc.find(doc);
      if (it == by_doc.end()) {
        McQuestion q;
        q.id = std::to_string(doc);
        q.context = context;
        q.gold = gold_index(int_field(field(j, "doc", path, line_no), "gold", path, line_no));
        it = by_doc.emplace(doc, questions.size()).first;
        questions.push_back(std::move(q));
      }
      McQuestion& q = questions[it->second];
      if (context != q.context) throw Error(path, cat({at_line(line_no), ": request.context"}), "differs between choices of one doc_id");
      if (idx != int64_t(q.continuations.size())) throw Error(path, cat({at_line(line_no), ": idx"}), "choices out of order");
      q.continuations.push_back(continuation);
    } else {
      McQuestion q;
      q.id = std::to_string(questions.size());
      q.context = j.contains("context") ? string_field(j, "context", path, line_no) : string_field(j, "query", path, line_no);
      const auto& choices = field(j, "choices", path, line_no);
      if (!choices.is_array()) throw Error(path, cat({at_line(line_no), ": choices"}), "expected an array of strings");
      for (const auto& c : choices) {
        if (!c.is_string()) throw Error(path, cat({at_line(line_no), ": choices"}), "expected an array of strings");
        q.continuations.push_back(cat({" ", c.get<std::string>()}));
      }
      q.gold = gold_index(int_field(j, "gold", path, line_no));
      by_doc.emplace(-int64_t(questions.size()) - 1, questions.size());
      questions.push_back(std::move(q));
    }
  }
  for (auto& [doc, i] : by_doc) {
    McQuestion& q = questions[i];
    if (q.continuations.size() < 2) throw Error(path, cat({"question ", q.id}), "fewer than 2 choices");
    if (q.gold < 0 || q.gold >= int(q.continuations.size()))
      throw Error(path, cat({"question ", q.id, ": gold"}), "not the index of a choice");
    const auto u = uncond.find(doc);
    if (u != uncond.end() && u->second != q.continuations)
      throw Error(path, at_line(uncond_line[doc]), "unconditioned continuations differ from the question's choices");
  }
  if (questions.empty()) throw Error(path, "", "no questions");
  return questions;
} catch (...) {
  rethrow_as_error(path, "");
}

int McQuestionScore::answer(McRule rule) const {
  if (rule == McRule::Uncond && !has_uncond) return -1;
  int best = 0;
  double best_v = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < choices.size(); ++i) {
    const McChoiceScore& c = choices[i];
    double v = c.logprob;
    if (rule == McRule::PerToken) v /= double(c.n_tokens);
    if (rule == McRule::PerChar) v /= double(std::max<int64_t>(c.n_chars, 1));
    if (rule == McRule::Uncond) v -= c.uncond_logprob;
    if (v > best_v) best_v = v, best = int(i);
  }
  return best;
}

McTokens tokenize_question(const Tokenizer& tok, const McQuestion& q) {
  McTokens t;
  for (const auto& c : q.continuations) t.choices.push_back(tok.encode(cat({q.context, c}), true, false));
  t.shared_prefix = shared_prefix(t.choices);
  if (t.shared_prefix < 1) throw Error(cat({"question ", q.id}), "context", "tokenizes to nothing before the choices");
  if (q.uncond_context) {
    for (const auto& c : q.continuations) t.uncond.push_back(tok.encode(cat({*q.uncond_context, c}), true, false));
    t.uncond_prefix = shared_prefix(t.uncond);
    if (t.uncond_prefix < 1) throw Error(cat({"question ", q.id}), "uncond context", "tokenizes to nothing before the choices");
  }
  return t;
}

int64_t longest_sequence(const McTokens& t) {
  size_t n = 0;
  for (const auto& s : t.choices) n = std::max(n, s.size());
  for (const auto& s : t.uncond) n = std::max(n, s.size());
  return int64_t(n);
}

McQuestionScore score_question(Session& session, const McTokens& t, const McQuestion& q) {
  McQuestionScore r;
  r.gold = q.gold;
  r.shared_prefix = t.shared_prefix;
  const std::vector<double> lp = score_sequences(session, t.choices, t.shared_prefix);
  for (size_t i = 0; i < lp.size(); ++i) {
    McChoiceScore c;
    c.logprob = lp[i];
    c.n_tokens = int64_t(t.choices[i].size()) - t.shared_prefix;
    c.n_chars = code_points(q.continuations[i]);
    r.choices.push_back(c);
  }
  if (!t.uncond.empty()) {
    // Tokens shared by all choices add the same to every choice's score, so leaving them out (here
    // and above) does not change which choice wins.
    const std::vector<double> u = score_sequences(session, t.uncond, t.uncond_prefix);
    for (size_t i = 0; i < u.size(); ++i) r.choices[i].uncond_logprob = u[i];
    r.has_uncond = true;
  }
  return r;
}

McAccuracy mc_accuracy(const std::vector<McQuestionScore>& scores, McRule rule) {
  McAccuracy a;
  for (const auto& s : scores) {
    const int ans = s.answer(rule);
    if (ans < 0) continue;
    ++a.n;
    a.correct += ans == s.gold;
  }
  if (a.n == 0) return a;
  a.acc = double(a.correct) / double(a.n);
  if (a.n > 1) a.stderr_ = std::sqrt(a.acc * (1 - a.acc) * double(a.n) / double(a.n - 1) / double(a.n));
  return a;
}

McPaired mc_paired(const std::vector<McQuestionScore>& model, const std::vector<McQuestionScore>& base, McRule rule) {
  if (model.size() != base.size()) throw Error("eval mc", "questions", "the two models scored different question sets");
  McPaired p;
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < model.size(); ++i) {
    const int a = model[i].answer(rule), b = base[i].answer(rule);
    if (a < 0 || b < 0) continue;
    ++p.n;
    p.same_answer += a == b;
    const int d = int(a == model[i].gold) - int(b == base[i].gold);
    p.gained += d > 0;
    p.lost += d < 0;
    sum += d;
    sum2 += d * d;
  }
  if (p.n == 0) return p;
  p.delta_acc = sum / double(p.n);
  if (p.n > 1) {
    const double var = (sum2 - sum * sum / double(p.n)) / double(p.n - 1);
    p.delta_stderr = std::sqrt(std::max(var, 0.0) / double(p.n));
  }
  return p;
}

}  // namespace quantlab
