#pragma once
// What a calibration set looks like before it is used (`quantlab calib inspect`): sizes, token
// lengths, what packing will do to it, languages, duplicates, noise, category breadth, and checks
// that catch the failures of the seed articles (chat model calibrated on raw text; conversations
// cut mid-turn by concat packing; end-of-turn token never seen).
#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/calib/provenance.hpp"
#include "quantlab/calib/sample_format.hpp"
#include "quantlab/text/script_mix.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::calib {

struct Distribution {
  size_t count = 0;
  double min = 0, max = 0, mean = 0, p10 = 0, p50 = 0, p90 = 0, p99 = 0;
  nlohmann::ordered_json to_json() const;
};
Distribution distribution_of(std::vector<double> values);  // nearest-rank percentiles

struct Finding {
  std::string code;     // stable identifier, e.g. "no-chat-template", "concat-cuts-turns"
  std::string severity;  // "warning" or "info"
  std::string message;
};

struct NoiseStats {
  size_t with_markup = 0;           // HTML/XML tags or entities
  size_t with_urls = 0;
  size_t with_repeated_chars = 0;   // a run of 8+ identical non-space characters
  size_t mostly_non_text = 0;       // more than half of the characters are not letters/spaces
  size_t empty_responses = 0;       // assistant turns with no text
  double mean_non_text_ratio = 0;   // digits, punctuation and symbols over all characters
};

// How varied the samples' words are: distinct word trigrams over all word trigrams of the
// non-system turns (and text samples), words split at whitespace. A templated set repeats its
// phrasing and scores low (CREPE: 0.13; LogiQA, whose every sample is there twice: 0.36). Scripts
// written without spaces give few, long "words": the measure says little for them.
struct Diversity {
  size_t word_trigrams = 0;
  size_t distinct_word_trigrams = 0;
  double distinct_ratio() const { return word_trigrams ? double(distinct_word_trigrams) / double(word_trigrams) : 0.0; }
};

struct DiagnoseOptions {
  FormatOptions format;                    // chat template / text template / raw
  bool model_has_chat_template = false;    // the model is instruction-tuned
  const TokenizerFn* tokenizer = nullptr;  // token statistics and packing need one
  PackingOptions packing;
  std::string end_of_turn;                 // "" : taken from the chat template
  std::string dataset_name;                // "" : the file name
};

struct Diagnostics {
  size_t samples = 0, chat_samples = 0, text_samples = 0;
  size_t with_system = 0, without_assistant = 0, ending_with_user = 0;
  Distribution turns;        // messages per conversation
  Distribution characters;   // code points per formatted sample
  std::optional<Distribution> tokens;     // tokens per formatted sample (with a tokenizer)
  std::optional<PackingStats> packing;    // what the chosen packing does (with a tokenizer)
  text::ScriptCounts scripts;                   // over all sample contents
  std::map<std::string, size_t> languages;
  size_t duplicate_samples = 0;           // samples whose formatted text occurred before
  Diversity diversity;
  NoiseStats noise;
  std::map<std::string, size_t> categories;
  double category_entropy_bits = 0;
  std::string end_of_turn;                // the end-of-turn text checked for
  size_t samples_with_end_of_turn = 0;
  std::vector<Finding> findings;
  Provenance provenance;

  nlohmann::ordered_json to_json() const;
  std::string to_text() const;
};

Diagnostics diagnose(const Dataset& data, const DiagnoseOptions& opt);

}  // namespace quantlab::calib
