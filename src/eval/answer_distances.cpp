#include "quantlab/eval/answer_distances.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/model/activation_observer.hpp"

#include <algorithm>
#include <cmath>

namespace quantlab {

EmbeddingDistance embedding_distance(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    throw Error("embedding", "dimension", std::to_string(a.size()) + " against " + std::to_string(b.size()));
  EmbeddingDistance d;
  d.cosine = 1.0 - cosine_similarity(a, b);
  d.l1 = l1_distance(a, b);
  return d;
}

namespace {

// Sums the output norm's rows (the LM head's input) over the tokens a forward pass reports.
class FinalHiddenSum : public ActivationObserver {
 public:
  explicit FinalHiddenSum(int64_t n_embd) : sum(size_t(n_embd), 0.0) {}
  void on_linear_input(int, LinearInput which, const float* x, int64_t n_tokens, int64_t n_features) override {
    if (which != LinearInput::Output) return;
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t i = 0; i < n_features; ++i) sum[size_t(i)] += double(x[t * n_features + i]);
      ++rows;
    }
  }
  std::vector<double> sum;
  int64_t rows = 0;
};

// Restores the session's observer however the pass ends.
struct ObserverScope {
  Session& s;
  ObserverScope(Session& session, ActivationObserver* o) : s(session) { s.set_observer(o); }
  ~ObserverScope() { s.set_observer(nullptr); }
};

}  // namespace

std::vector<float> mean_final_hidden_state(Session& session, const Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> ids = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/false);
  const bool bos = tokenizer.add_bos() && tokenizer.bos_id() >= 0;
  if (bos) ids.insert(ids.begin(), tokenizer.bos_id());
  if (int64_t(ids.size()) > session.n_ctx()) ids.resize(size_t(session.n_ctx()));
  const int64_t n_embd = session.model().config.n_embd;
  if (ids.empty()) return std::vector<float>(size_t(n_embd), 0.0f);
  // The BOS row is pooled only when it is the text's only token.
  const int64_t first = bos && ids.size() > 1 ? 1 : 0;
  FinalHiddenSum acc(n_embd);
  {
    ObserverScope scope(session, &acc);
    session.rewind(0);
    session.forward(ids, first);
  }
  session.rewind(0);
  std::vector<float> out(static_cast<size_t>(n_embd));
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(acc.sum[i] / double(acc.rows));
  return out;
}

namespace {

using Embeddings = std::vector<std::vector<std::vector<std::vector<float>>>>;  // [c][p][r]

PromptSeries series(std::vector<double> v, std::vector<size_t> prompts, const BootstrapOptions& b) {
  PromptSeries s{std::move(v), std::move(prompts), {}};
  s.mean = bootstrap_mean(s.per_prompt, b);
  return s;
}

double pick(const EmbeddingDistance& d, int k) { return k == 0 ? d.cosine : d.l1; }

// Distances of one mode (runs [r0, r0 + n)) and one distance kind k.
std::vector<ConditionDistances> mode_distances(const AnswerSet& set, const Embeddings& e,
                                               const std::vector<std::optional<std::vector<float>>>& ref, size_t r0,
                                               size_t n, bool sampled, int k, const BootstrapOptions& b) {
  const size_t C = set.conditions.size(), P = set.prompt_ids.size();
  std::vector<ConditionDistances> out(C);
  if (n == 0 || P == 0) return out;
  auto d = [&](size_t c1, size_t p, size_t r1, size_t c2, size_t r2) {
    return pick(embedding_distance(e[c1][p][r1], e[c2][p][r2]), k);
  };
  std::vector<size_t> all(P);
  for (size_t p = 0; p < P; ++p) all[p] = p;
  // The base's baseline per prompt: seed i against seed i+1 (sampled), 0 (greedy).
  std::optional<std::vector<double>> baseline;
  if (!sampled) baseline = std::vector<double>(P, 0.0);
  else if (n >= 2) {
    baseline = std::vector<double>(P);
    for (size_t p = 0; p < P; ++p) {
      double s = 0;
      for (size_t i = 0; i + 1 < n; ++i) s += d(0, p, r0 + i, 0, r0 + i + 1);
      (*baseline)[p] = s / double(n - 1);
    }
  }
  std::vector<double> base_ref;
  std::vector<size_t> ref_prompts;
  for (size_t p = 0; p < P; ++p)
    if (ref[p]) ref_prompts.push_back(p);
  for (size_t c = 0; c < C; ++c) {
    ConditionDistances& cd = out[c];
    if (c == 0) {
      if (baseline) cd.to_base = series(*baseline, all, b);
      if (baseline && sampled) cd.to_base_next_seed = cd.to_base;
    } else {
      std::vector<double> same(P);
      for (size_t p = 0; p < P; ++p) {
        double s = 0;
        for (size_t r = r0; r < r0 + n; ++r) s += d(c, p, r, 0, r);
        same[p] = s / double(n);
      }
      cd.to_base = series(same, all, b);
      if (sampled && n >= 2) {
        std::vector<double> next(P);
        for (size_t p = 0; p < P; ++p) {
          double s = 0;
          for (size_t i = 0; i + 1 < n; ++i) s += d(c, p, r0 + i, 0, r0 + i + 1);
          next[p] = s / double(n - 1);
        }
        cd.to_base_next_seed = series(next, all, b);
        cd.excess_over_baseline = bootstrap_paired_difference(next, *baseline, b);
      }
    }
    if (!ref_prompts.empty()) {
      std::vector<double> v;
      for (size_t p : ref_prompts) {
        double s = 0;
        for (size_t r = r0; r < r0 + n; ++r) s += pick(embedding_distance(e[c][p][r], *ref[p]), k);
        v.push_back(s / double(n));
      }
      if (c == 0) base_ref = v;
      else cd.reference_minus_base = bootstrap_paired_difference(v, base_ref, b);
      cd.to_reference = series(std::move(v), ref_prompts, b);
    }
  }
  return out;
}

}  // namespace

std::vector<BackboneDistances> answer_distances(const AnswerSet& set, const std::vector<EmbeddingBackbone>& backbones,
                                                const BootstrapOptions& b,
                                                const std::function<void(size_t, size_t)>& on_text) {
  const size_t C = set.conditions.size(), P = set.prompt_ids.size();
  const size_t R = (set.greedy ? 1 : 0) + set.seeds.size();
  if (C == 0) throw Error(set.name, "conditions", "no base model");
  if (set.references.size() != P) throw Error(set.name, "references", "one per prompt expected");
  if (set.text.size() != C) throw Error(set.name, "text", "one list of replies per condition expected");
  for (const auto& c : set.text) {
    if (c.size() != P) throw Error(set.name, "text", "one list of replies per prompt expected");
    for (const auto& p : c)
      if (p.size() != R) throw Error(set.name, "text", std::to_string(R) + " replies per prompt expected");
  }
  size_t n_texts = C * P * R, done = 0;
  for (const auto& r : set.references) n_texts += r ? 1 : 0;
  n_texts *= backbones.size();
  std::vector<BackboneDistances> out;
  for (const EmbeddingBackbone& bb : backbones) {
    Embeddings e(C, std::vector<std::vector<std::vector<float>>>(P, std::vector<std::vector<float>>(R)));
    for (size_t c = 0; c < C; ++c)
      for (size_t p = 0; p < P; ++p)
        for (size_t r = 0; r < R; ++r) {
          e[c][p][r] = bb.embed(set.text[c][p][r]);
          if (on_text) on_text(++done, n_texts);
        }
    std::vector<std::optional<std::vector<float>>> ref(P);
    for (size_t p = 0; p < P; ++p)
      if (set.references[p]) {
        ref[p] = bb.embed(*set.references[p]);
        if (on_text) on_text(++done, n_texts);
      }
    BackboneDistances bd;
    bd.backbone = bb.name;
    bd.replies.assign(C, std::vector<std::vector<ReplyDistances>>(P, std::vector<ReplyDistances>(R)));
    for (size_t c = 0; c < C; ++c)
      for (size_t p = 0; p < P; ++p)
        for (size_t r = 0; r < R; ++r) {
          ReplyDistances& rd = bd.replies[c][p][r];
          if (c > 0) rd.to_base = embedding_distance(e[c][p][r], e[0][p][r]);
          if (ref[p]) rd.to_reference = embedding_distance(e[c][p][r], *ref[p]);
        }
    const size_t g = set.greedy ? 1 : 0;
    bd.greedy_cosine = mode_distances(set, e, ref, 0, g, false, 0, b);
    bd.greedy_l1 = mode_distances(set, e, ref, 0, g, false, 1, b);
    bd.sampled_cosine = mode_distances(set, e, ref, g, set.seeds.size(), true, 0, b);
    bd.sampled_l1 = mode_distances(set, e, ref, g, set.seeds.size(), true, 1, b);
    out.push_back(std::move(bd));
  }
  return out;
}

std::vector<HypothesisCell> hypothesis_cells(const AnswerSet& set, const std::vector<BackboneDistances>& ds,
                                             E1Pairing pairing) {
  std::vector<HypothesisCell> cells;
  auto add = [&](const std::string& mode, const std::string& row, const std::vector<ConditionDistances>& cd, bool sampled) {
    if (cd.empty() || !cd[0].to_base) return;  // mode not run, or no baseline (one seed)
    HypothesisCell cell{set.name + " " + mode, row, set.conditions, 0, {}, {}};
    bool refs = true;
    for (size_t c = 0; c < cd.size(); ++c) {
      const bool next = sampled && pairing == E1Pairing::NextSeed;
      const std::optional<PromptSeries>& s = next ? cd[c].to_base_next_seed : cd[c].to_base;
      cell.to_base.push_back(s ? s->mean.mean : std::nan(""));
      refs = refs && cd[c].to_reference.has_value();
      if (cd[c].to_reference) cell.to_reference.push_back(cd[c].to_reference->mean.mean);
    }
    if (!refs) cell.to_reference.clear();
    cells.push_back(std::move(cell));
  };
  for (const BackboneDistances& d : ds) {
    add("greedy", d.backbone + " cosine", d.greedy_cosine, false);
    add("greedy", d.backbone + " l1", d.greedy_l1, false);
  }
  for (const BackboneDistances& d : ds) {
    add("sampled", d.backbone + " cosine", d.sampled_cosine, true);
    add("sampled", d.backbone + " l1", d.sampled_l1, true);
  }
  return cells;
}

}  // namespace quantlab
