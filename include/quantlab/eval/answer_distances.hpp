#pragma once
// Seed 001's embedding distances between generated answers, for `eval answers`. Every answer (and
// every reference answer) is embedded by each backbone; two distances compare two embeddings:
//   cosine distance  1 - cos(a, b)
//   L1 distance      mean over dimensions of |a_i - b_i|  (sklearn's paired_manhattan_distances,
//                    which seed 001 used, is the sum: ours is that divided by the dimension)
// Per condition (the base and each model), prompt set, mode (greedy or sampled), backbone and
// distance, the aggregates below are means over prompts of per-prompt means over runs, with
// percentile-bootstrap intervals over prompts (the runs of one prompt are not independent).
#include "quantlab/eval/bootstrap.hpp"
#include "quantlab/eval/hypothesis_table.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct EmbeddingDistance {
  double cosine = 0;  // 1 - cosine similarity (1 when either vector is all zeros)
  double l1 = 0;      // mean |a_i - b_i|
};
// Throws Error when the lengths differ.
EmbeddingDistance embedding_distance(const std::vector<float>& a, const std::vector<float>& b);

// A sentence-embedding function with a name for the tables ("minilm", "hidden:base.gguf").
struct EmbeddingBackbone {
  std::string name;
  std::function<std::vector<float>(const std::string&)> embed;
};

// The second kind of backbone: a loaded LLM's final hidden state (the output norm's result, what
// the LM head reads; Hugging Face's last_hidden_state for Llama-style models) averaged over the
// text's tokens. The text is tokenized without special-token parsing, with a BOS in front when the
// tokenizer adds one; the BOS row is left out of the mean (its state is an outlier shared by every
// text). Texts longer than the session's cache are cut to it. A text of no tokens embeds as the
// BOS's state when there is one, else as zeros.
std::vector<float> mean_final_hidden_state(Session& session, const Tokenizer& tokenizer, const std::string& text);

// The replies of one prompt set, ready to compare: text[c][p][r] for condition c (0 = the base),
// prompt p and run r. Runs are the greedy one first (when `greedy`), then one per seed.
struct AnswerSet {
  std::string name;                                  // prompt set label
  std::vector<std::string> conditions;               // [0] = the base
  std::vector<std::string> prompt_ids;
  std::vector<std::optional<std::string>> references;  // per prompt
  bool greedy = false;
  std::vector<int64_t> seeds;
  std::vector<std::vector<std::vector<std::string>>> text;
};

// One series over prompts (prompts without a value are left out) and its bootstrap interval.
struct PromptSeries {
  std::vector<double> per_prompt;
  std::vector<size_t> prompts;  // prompt index of each value
  MeanInterval mean;
};

// Aggregates of one condition for one (backbone, distance, mode).
struct ConditionDistances {
  // Models: to the base's reply of the same prompt and run (same seed). The base: its own
  // baseline, base seed i against base seed i+1 (sampled; absent with one seed), 0 when greedy.
  std::optional<PromptSeries> to_base;
  // Sampled, two seeds or more: seed i against the base's seed i+1 (the base: the same baseline),
  // so that every condition is paired exactly as the baseline is.
  std::optional<PromptSeries> to_base_next_seed;
  std::optional<PromptSeries> to_reference;  // prompts with a reference answer
  // Models: paired per prompt against the base: to_base_next_seed - the base's baseline (how far
  // beyond the base's own sampling spread), and to_reference - the base's to_reference.
  std::optional<MeanInterval> excess_over_baseline, reference_minus_base;
};

// Per-reply distances of one backbone: [c][p][r]; to_base is absent for the base, to_reference
// where the prompt has no reference.
struct ReplyDistances {
  std::optional<EmbeddingDistance> to_base, to_reference;
};

struct BackboneDistances {
  std::string backbone;
  std::vector<std::vector<std::vector<ReplyDistances>>> replies;
  // Per condition, for each mode and distance (empty for a mode not run).
  std::vector<ConditionDistances> greedy_cosine, greedy_l1, sampled_cosine, sampled_l1;
};

// Embeds every reply and reference with each backbone and computes everything above. Throws Error
// when `set`'s shape is inconsistent.
std::vector<BackboneDistances> answer_distances(const AnswerSet& set, const std::vector<EmbeddingBackbone>& backbones,
                                                const BootstrapOptions& bootstrap,
                                                const std::function<void(size_t, size_t)>& on_text = {});

// Which per-model distance to the base the hypothesis tables use when sampled: the same-seed one or
// the next-seed one (paired as the base's baseline is; the default, docs/answers.md says why).
enum class E1Pairing { NextSeed, SameSeed };

// Seed 001's cells from one prompt set: one per mode run ("<name> greedy", "<name> sampled"), one
// row per backbone and distance ("<backbone> cosine", "<backbone> l1"). A sampled cell needs two
// seeds (the base's baseline); greedy's baseline is 0 (the same run compared with itself).
std::vector<HypothesisCell> hypothesis_cells(const AnswerSet& set, const std::vector<BackboneDistances>& d,
                                             E1Pairing pairing);

}  // namespace quantlab
