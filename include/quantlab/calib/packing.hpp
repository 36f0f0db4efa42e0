#pragma once
// Packing calibration samples into token sequences: one option used by GPTQ, AWQ and imatrix alike.
//   per-sample (default): each sample alone (chat template applied, BOS once), truncated or dropped
//     at seq_len; sequences never mix samples, so attention never crosses a sample boundary;
//   concat-chunk: AWQ's behaviour: all samples' tokens concatenated, cut into blocks of seq_len
//     (the tail shorter than a block is discarded);
//   imatrix-chunk: llama.cpp imatrix's behaviour: the text tokenized without per-sample BOS and
//     without parsing special tokens, cut into chunks of seq_len whose first token is replaced by BOS.
// Sample selection (count, seed, length filters, category strata, ordered language mixing) happens
// before packing and is deterministic for a given seed.
#include "quantlab/calib/sample.hpp"
#include "quantlab/calib/sample_format.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::calib {

// The minimal tokenizer calibration needs (the text layer's tokenizers are wired to it by the caller).
struct TokenizerFn {
  std::function<std::vector<int32_t>(std::string_view text, bool add_special, bool parse_special)> encode;
  int32_t bos_id = -1;  // -1: the model has no BOS token
  int32_t eos_id = -1;
  bool add_bos = true;  // the model expects a BOS at the start of a sequence
};

enum class Packing { PerSample, ConcatChunk, ImatrixChunk };
const char* packing_name(Packing p);
Packing parse_packing(const std::string& name);  // throws Error naming --packing

enum class Overflow { Truncate, Drop };  // per-sample: what happens to a sample longer than seq_len
const char* overflow_name(Overflow o);
Overflow parse_overflow(const std::string& name);

struct SelectionOptions {
  size_t num_samples = 0;                   // 0: every sample that passes the filters
  uint64_t seed = 0;
  size_t min_tokens = 0, max_tokens = 0;    // length filters on a formatted sample's tokens (0: off)
  bool stratify = false;                    // keep the category proportions when sampling
  std::vector<std::string> language_order;  // e.g. {"en", "ja"}: only these, in this order, equal shares
  bool shuffle = false;                     // false: selected samples keep their file order
};

struct PackingOptions {
  Packing mode = Packing::PerSample;
  size_t seq_len = 512;  // per-sample: the longest sample kept; chunk modes: the block length
  Overflow overflow = Overflow::Truncate;
  SelectionOptions select;
};

struct PackedSequence {
  std::vector<int32_t> tokens;
  std::vector<size_t> samples;  // indices (into the input samples) of the samples that contributed
};

struct PackingStats {
  size_t input_samples = 0;
  size_t filtered_short = 0, filtered_long = 0, filtered_language = 0;
  size_t selected = 0;
  size_t truncated = 0, dropped = 0;      // per-sample overflow
  size_t cut_samples = 0;                 // chunk modes: samples split across blocks (mid-turn cuts)
  size_t lost_samples = 0;                // chunk modes: samples entirely in the discarded tail
  size_t discarded_tail_tokens = 0;       // chunk modes
  size_t bos_overwrites = 0;              // imatrix-chunk: sample tokens replaced by the forced BOS
  size_t sequences = 0, tokens = 0;
  std::map<std::string, size_t> languages;   // selected samples per language label
  std::map<std::string, size_t> categories;  // selected samples per category
};

struct PackedSet {
  std::vector<PackedSequence> sequences;
  std::vector<size_t> selected;             // input indices, in packing order
  std::vector<size_t> sample_tokens;        // token count of every input sample (before overflow)
  PackingStats stats;
};

// Tokenizes one formatted sample for per-sample/concat packing: special tokens parsed and no
// tokenizer-added BOS when the text came from a chat template (the template writes it), then
// exactly one leading BOS when the model uses one.
std::vector<int32_t> tokenize_sample(const std::string& text, bool templated, const TokenizerFn& tok);

// Deterministic selection of sample indices (see SelectionOptions); `languages` and `categories`
// give each sample's labels, `token_counts` its length.
std::vector<size_t> select_samples(const std::vector<std::string>& languages, const std::vector<std::string>& categories,
                                   const std::vector<size_t>& token_counts, const SelectionOptions& opt,
                                   PackingStats& stats);

PackedSet pack(const std::vector<Sample>& samples, const FormatOptions& fmt, const TokenizerFn& tok,
               const PackingOptions& opt);

}  // namespace quantlab::calib
