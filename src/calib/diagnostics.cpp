#include "quantlab/calib/diagnostics.hpp"

#include "quantlab/calib/calibration_set.hpp"

#include "quantlab/core/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace quantlab::calib {
namespace {

std::string fmt_double(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::string percent(size_t part, size_t whole) {
  return whole ? fmt_double(100.0 * static_cast<double>(part) / static_cast<double>(whole)) + "%" : "0%";
}

// HTML/XML tags ("<p>", "</div>", "<br/>") or character entities ("&amp;", "&#39;").
bool has_markup(const std::string& s) {
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] == '<') {
      size_t k = i + 1;
      if (s[k] == '/') ++k;
      const size_t name_start = k;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '-')) ++k;
      if (k > name_start && std::isalpha(static_cast<unsigned char>(s[name_start])) && k < s.size() &&
          (s[k] == '>' || s[k] == ' ' || s[k] == '/')) {
        const size_t close = s.find('>', k);
        if (close != std::string::npos && close - i < 200) return true;
      }
    } else if (s[i] == '&') {
      size_t k = i + 1;
      if (k < s.size() && s[k] == '#') ++k;
      const size_t b = k;
      while (k < s.size() && std::isalnum(static_cast<unsigned char>(s[k]))) ++k;
      if (k > b && k - b <= 8 && k < s.size() && s[k] == ';') return true;
    }
  }
  return false;
}

bool has_url(const std::string& s) {
  return s.find("http://") != std::string::npos || s.find("https://") != std::string::npos ||
         s.find("www.") != std::string::npos;
}

// A run of 8 or more identical non-space code points ("!!!!!!!!", "========", "ああああああああ").
bool has_repeated_run(const std::string& s) {
  size_t run = 0, prev_start = 0, prev_len = 0, i = 0;
  while (i < s.size()) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) n = 1;
    const bool space = n == 1 && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r');
    if (!space && prev_len == n && s.compare(prev_start, n, s, i, n) == 0) ++run;
    else run = 1;
    if (space) run = 0;
    if (run >= 8) return true;
    prev_start = i;
    prev_len = n;
    i += n;
  }
  return false;
}

std::string sample_content(const Sample& s) {
  if (!s.is_chat()) return s.text;
  std::string out;
  for (const auto& m : s.messages) out += (out.empty() ? "" : "\n") + m.content;
  return out;
}

// Adds the word trigrams of the sample's non-system text to `seen` (as 64-bit FNV-1a hashes of the
// three words: collisions are negligible at dataset sizes) and counts them.
void add_word_trigrams(const Sample& s, std::unordered_set<uint64_t>& seen, size_t& total) {
  std::vector<std::string_view> words;
  auto split = [&](std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      const size_t b = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i > b) words.push_back(text.substr(b, i - b));
    }
  };
  if (!s.is_chat()) split(s.text);
  for (const auto& m : s.messages)
    if (m.role != "system") split(m.content);
  for (size_t i = 0; i + 2 < words.size(); ++i) {
    uint64_t h = 1469598103934665603ull;
    for (size_t k = i; k < i + 3; ++k) {
      for (unsigned char c : words[k]) h = (h ^ c) * 1099511628211ull;
      h = (h ^ 0x1F) * 1099511628211ull;  // word separator
    }
    seen.insert(h);
    ++total;
  }
}

size_t codepoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

Distribution distribution_of(std::vector<double> v) {
  Distribution d;
  d.count = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  d.min = v.front();
  d.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / static_cast<double>(v.size());
  auto rank = [&](double p) {
    const size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
  };
  d.p10 = rank(10);
  d.p50 = rank(50);
  d.p90 = rank(90);
  d.p99 = rank(99);
  return d;
}

nlohmann::ordered_json Distribution::to_json() const {
  return {{"count", count}, {"min", min}, {"max", max}, {"mean", mean},
          {"p10", p10},     {"p50", p50}, {"p90", p90}, {"p99", p99}};
}

Diagnostics diagnose(const Dataset& data, const DiagnoseOptions& opt) {
  Diagnostics d;
  const auto& samples = data.samples;
  d.samples = samples.size();
  std::vector<std::string> formatted(samples.size());
  std::vector<double> turns, chars;
  std::unordered_set<std::string> seen;
  std::unordered_set<uint64_t> trigrams;
  double non_text_sum = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    formatted[i] = format_sample(s, opt.format);
    chars.push_back(static_cast<double>(codepoints(formatted[i])));
    if (!seen.insert(formatted[i]).second) ++d.duplicate_samples;
    add_word_trigrams(s, trigrams, d.diversity.word_trigrams);
    if (s.is_chat()) {
      ++d.chat_samples;
      turns.push_back(static_cast<double>(s.messages.size()));
      bool has_assistant = false;
      for (const auto& m : s.messages) {
        if (m.role == "system") {
          ++d.with_system;
          break;
        }
      }
      for (const auto& m : s.messages)
        if (m.role == "assistant") {
          has_assistant = true;
          if (m.content.find_first_not_of(" \t\r\n") == std::string::npos) ++d.noise.empty_responses;
        }
      if (!has_assistant) ++d.without_assistant;
      if (s.messages.back().role == "user") ++d.ending_with_user;
    } else {
      ++d.text_samples;
    }
    const std::string content = sample_content(s);
    const text::ScriptCounts sc = text::count_scripts(content);
    d.scripts.add(sc);
    ++d.languages[text::language_of(content)];
    if (has_markup(content)) ++d.noise.with_markup;
    if (has_url(content)) ++d.noise.with_urls;
    if (has_repeated_run(content)) ++d.noise.with_repeated_chars;
    const size_t letters_and_space = sc.whitespace + [&] {
      size_t n = 0;
      for (size_t k = 0; k + 1 < sc.letters.size(); ++k) n += sc.letters[k];
      return n;
    }();
    const double ratio = sc.codepoints ? 1.0 - static_cast<double>(letters_and_space) / static_cast<double>(sc.codepoints) : 0.0;
    non_text_sum += ratio;
    if (ratio > 0.5) ++d.noise.mostly_non_text;
    ++d.categories[s.category];
  }
  d.diversity.distinct_word_trigrams = trigrams.size();
  d.noise.mean_non_text_ratio = samples.empty() ? 0 : non_text_sum / static_cast<double>(samples.size());
  d.turns = distribution_of(turns);
  d.characters = distribution_of(chars);
  for (const auto& [c, n] : d.categories) {
    const double p = static_cast<double>(n) / static_cast<double>(samples.size());
    d.category_entropy_bits -= p * std::log2(p);
  }

  // End of turn: the text that closes an assistant turn in this template.
  const bool templated = opt.format.mode == FormatMode::ChatTemplate && opt.format.chat_template && d.chat_samples > 0;
  d.end_of_turn = !opt.end_of_turn.empty() ? opt.end_of_turn
                  : opt.format.chat_template ? opt.format.chat_template->end_of_turn()
                                             : std::string();
  if (!d.end_of_turn.empty())
    for (const auto& f : formatted) d.samples_with_end_of_turn += f.find(d.end_of_turn) != std::string::npos;

  // Tokens and packing.
  const PackingOptions& po = opt.packing;
  std::optional<PackedSet> packed;
  if (opt.tokenizer) {
    packed = pack(samples, opt.format, *opt.tokenizer, po);
    std::vector<double> tok;
    for (size_t n : packed->sample_tokens) tok.push_back(static_cast<double>(n));
    d.tokens = distribution_of(tok);
    d.packing = packed->stats;
  }

  // Findings.
  auto add = [&](std::string code, std::string severity, std::string msg) {
    d.findings.push_back({std::move(code), std::move(severity), std::move(msg)});
  };
  if (opt.model_has_chat_template) {
    if (opt.format.mode != FormatMode::ChatTemplate)
      add("no-chat-template", "warning",
          "the model is instruction-tuned (it ships a chat template) but the data is formatted without it (" +
              std::string(opt.format.mode == FormatMode::Raw ? "raw text" : "a text template") + ")");
    else if (d.text_samples == d.samples)
      add("no-chat-template", "warning",
          "the model is instruction-tuned (it ships a chat template) but the data has no chat template: all " +
              std::to_string(d.samples) + " samples are raw text; calibrate on conversations (messages, alpaca, dolly, sharegpt) to keep its chat behaviour");
    else if (d.text_samples > 0)
      add("no-chat-template", "warning",
          std::to_string(d.text_samples) + " of " + std::to_string(d.samples) +
              " samples are raw text and will not go through the model's chat template");
  } else if (d.chat_samples > 0 && opt.format.mode == FormatMode::ChatTemplate) {
    add("no-model-template", "info",
        "the model has no chat template; conversations are joined as raw text (or give --text-template)");
  }
  if (templated && !d.end_of_turn.empty() && d.samples_with_end_of_turn == 0)
    add("end-of-turn-missing", "warning",
        "the end-of-turn token '" + d.end_of_turn + "' never appears in the formatted data");
  if (d.packing) {
    const PackingStats& ps = *d.packing;
    if (po.mode != Packing::PerSample) {
      if (ps.cut_samples + ps.lost_samples > 0)
        add("concat-cuts-turns", "warning",
            std::string(packing_name(po.mode)) + " will cut " + std::to_string(ps.cut_samples) + " of " +
                std::to_string(ps.selected) + (d.chat_samples ? " conversations mid-turn" : " samples mid-text") +
                (ps.lost_samples ? " and discard " + std::to_string(ps.lost_samples) + " in the tail" : "") +
                "; blocks start inside samples and mix them (per-sample packing keeps boundaries)");
      if (po.mode == Packing::ImatrixChunk && templated)
        add("imatrix-specials-as-text", "warning",
            "imatrix-chunk tokenizes the text as llama.cpp's imatrix does, without parsing special tokens: the chat "
            "template's markers become plain text and the first token of each chunk is replaced by BOS");
    } else {
      if (ps.truncated)
        add("truncated", "info",
            std::to_string(ps.truncated) + " of " + std::to_string(ps.selected) + " samples are longer than " +
                std::to_string(po.seq_len) + " tokens and will be truncated (their end, often the answer, is lost)");
      if (ps.dropped)
        add("dropped", "info",
            std::to_string(ps.dropped) + " of " + std::to_string(ps.selected) + " samples are longer than " +
                std::to_string(po.seq_len) + " tokens and will be dropped");
    }
    if (templated && !d.end_of_turn.empty() && opt.tokenizer) {
      const auto eot_ids = opt.tokenizer->encode(d.end_of_turn, false, true);
      if (eot_ids.size() == 1) {
        size_t hits = 0;
        for (const auto& seq : packed->sequences)
          hits += std::count(seq.tokens.begin(), seq.tokens.end(), eot_ids[0]) > 0;
        if (hits == 0 && d.samples_with_end_of_turn > 0)
          add("end-of-turn-missing", "warning",
              "the end-of-turn token '" + d.end_of_turn + "' (id " + std::to_string(eot_ids[0]) +
                  ") never appears in the packed token sequences");
      }
    }
  } else if (po.mode != Packing::PerSample) {
    add("needs-tokenizer", "info", "token counts and packing effects need the model's tokenizer");
  }
  if (d.without_assistant)
    add("no-assistant-turn", "warning",
        std::to_string(d.without_assistant) + " conversations have no assistant turn: the model's answers are never seen");
  if (d.noise.empty_responses)
    add("empty-responses", "warning", std::to_string(d.noise.empty_responses) + " assistant turns are empty");
  if (d.duplicate_samples * 100 > d.samples)
    add("duplicates", "warning", std::to_string(d.duplicate_samples) + " samples (" + percent(d.duplicate_samples, d.samples) +
                                     ") repeat an earlier one");
  // Below a quarter distinct, most phrasing repeats: seed 001's measurement on quantlab (CREPE,
  // 0.13) made GPTQ worse than RTN on general text. Too little text says nothing either way.
  if (d.diversity.word_trigrams >= 1000 && d.diversity.distinct_ratio() < 0.25)
    add("low-diversity", "warning",
        "only " + fmt_double(100 * d.diversity.distinct_ratio(), 1) + " % of the word trigrams are distinct: the samples " +
            "repeat their phrasing, and a narrow calibration set can make GPTQ worse than no calibration on other " +
            "text (docs/seed-001-calibration-scaling.md)");
  const auto noisy = [&](size_t n, const std::string& what) {
    if (n * 10 > d.samples)
      add("noise", "warning", percent(n, d.samples) + " of the samples " + what);
  };
  noisy(d.noise.with_markup, "contain markup (HTML/XML tags or entities)");
  noisy(d.noise.with_urls, "contain URLs");
  noisy(d.noise.with_repeated_chars, "contain runs of 8+ repeated characters");
  noisy(d.noise.mostly_non_text, "are mostly non-text (digits, symbols, punctuation)");
  const size_t named_categories = d.categories.size() - (d.categories.count("") ? 1 : 0);
  if (named_categories == 1)
    add("one-category", "info", "all samples share one category ('" + d.categories.begin()->first +
                                    "'): broad instructions and domains calibrate better (seed 001)");
  if (d.samples < 128)
    add("few-samples", "info", "only " + std::to_string(d.samples) + " samples (GPTQ/AWQ commonly use 128 or more)");

  d.provenance = make_provenance(data, opt.format, po, d.packing ? d.packing->selected : samples.size(), opt.dataset_name);
  return d;
}

nlohmann::ordered_json Diagnostics::to_json() const {
  nlohmann::ordered_json j;
  j["samples"] = {{"total", samples}, {"chat", chat_samples}, {"text", text_samples}, {"with_system", with_system},
                  {"without_assistant", without_assistant}, {"ending_with_user", ending_with_user}};
  j["turns"] = turns.to_json();
  j["characters"] = characters.to_json();
  j["tokens"] = tokens ? tokens->to_json() : nlohmann::ordered_json(nullptr);
  if (packing) {
    const PackingStats& p = *packing;
    j["packing"] = {{"mode", provenance.packing},
                    {"seq_len", provenance.seq_len},
                    {"selected", p.selected},
                    {"filtered_short", p.filtered_short},
                    {"filtered_long", p.filtered_long},
                    {"filtered_language", p.filtered_language},
                    {"truncated", p.truncated},
                    {"dropped", p.dropped},
                    {"cut_samples", p.cut_samples},
                    {"lost_samples", p.lost_samples},
                    {"discarded_tail_tokens", p.discarded_tail_tokens},
                    {"bos_overwrites", p.bos_overwrites},
                    {"sequences", p.sequences},
                    {"tokens", p.tokens}};
  } else {
    j["packing"] = nullptr;
  }
  nlohmann::ordered_json sc = nlohmann::ordered_json::object();
  for (size_t k = 0; k + 1 < scripts.letters.size(); ++k)
    if (scripts.letters[k]) sc[text::script_name(static_cast<text::Script>(k))] = scripts.letters[k];
  j["scripts"] = {{"letters", sc},
                  {"codepoints", scripts.codepoints},
                  {"whitespace", scripts.whitespace},
                  {"digits", scripts.digits},
                  {"punctuation", scripts.punctuation},
                  {"symbols", scripts.symbols}};
  j["languages"] = languages;
  j["duplicates"] = duplicate_samples;
  j["diversity"] = {{"word_trigrams", diversity.word_trigrams},
                    {"distinct_word_trigrams", diversity.distinct_word_trigrams},
                    {"distinct_ratio", diversity.distinct_ratio()}};
  j["noise"] = {{"with_markup", noise.with_markup},
                {"with_urls", noise.with_urls},
                {"with_repeated_chars", noise.with_repeated_chars},
                {"mostly_non_text", noise.mostly_non_text},
                {"empty_responses", noise.empty_responses},
                {"mean_non_text_ratio", noise.mean_non_text_ratio}};
  j["categories"] = {{"counts", categories}, {"distinct", categories.size()}, {"entropy_bits", category_entropy_bits}};
  j["end_of_turn"] = {{"text", end_of_turn}, {"samples_containing", samples_with_end_of_turn}};
  nlohmann::ordered_json f = nlohmann::ordered_json::array();
  for (const auto& x : findings) f.push_back({{"code", x.code}, {"severity", x.severity}, {"message", x.message}});
  j["findings"] = f;
  j["provenance"] = provenance.to_json();
  return j;
}

std::string Diagnostics::to_text() const {
  std::string o;
  auto line = [&](const std::string& s) { o += s + "\n"; };
  auto dist = [&](const std::string& name, const Distribution& x) {
    line(name + ": min " + fmt_double(x.min, 0) + ", p10 " + fmt_double(x.p10, 0) + ", median " + fmt_double(x.p50, 0) +
         ", mean " + fmt_double(x.mean) + ", p90 " + fmt_double(x.p90, 0) + ", p99 " + fmt_double(x.p99, 0) + ", max " +
         fmt_double(x.max, 0));
  };
  line("dataset: " + provenance.dataset_path + " (" + provenance.dataset_format + ", sha256 " +
       provenance.dataset_sha256.substr(0, 16) + "...)");
  line("samples: " + std::to_string(samples) + " (" + std::to_string(chat_samples) + " conversations, " +
       std::to_string(text_samples) + " raw texts; " + std::to_string(with_system) + " with a system prompt)");
  if (chat_samples) dist("turns per conversation", turns);
  dist("characters per formatted sample", characters);
  if (tokens) dist("tokens per formatted sample", *tokens);
  if (packing) {
    const PackingStats& p = *packing;
    line("packing " + provenance.packing + " (seq_len " + std::to_string(provenance.seq_len) + "): " +
         std::to_string(p.selected) + " samples -> " + std::to_string(p.sequences) + " sequences, " +
         std::to_string(p.tokens) + " tokens; truncated " + std::to_string(p.truncated) + ", dropped " +
         std::to_string(p.dropped) + ", cut mid-sample " + std::to_string(p.cut_samples) + ", lost in tail " +
         std::to_string(p.lost_samples));
  }
  std::string langs;
  for (const auto& [l, n] : languages) langs += (langs.empty() ? "" : ", ") + l + " " + std::to_string(n);
  line("languages (by script): " + langs);
  std::string sc;
  for (size_t k = 0; k + 1 < scripts.letters.size(); ++k)
    if (scripts.letters[k])
      sc += (sc.empty() ? "" : ", ") + std::string(text::script_name(static_cast<text::Script>(k))) + " " + std::to_string(scripts.letters[k]);
  line("letters by script: " + (sc.empty() ? std::string("none") : sc));
  line("duplicates: " + std::to_string(duplicate_samples));
  line("diversity: " + fmt_double(100 * diversity.distinct_ratio(), 1) + " % of " + std::to_string(diversity.word_trigrams) +
       " word trigrams distinct");
  line("noise: markup " + std::to_string(noise.with_markup) + ", URLs " + std::to_string(noise.with_urls) +
       ", repeated characters " + std::to_string(noise.with_repeated_chars) + ", mostly non-text " +
       std::to_string(noise.mostly_non_text) + ", mean non-text ratio " + fmt_double(noise.mean_non_text_ratio, 3));
  std::string cats;
  for (const auto& [c, n] : categories) cats += (cats.empty() ? "" : ", ") + (c.empty() ? "(none)" : c) + " " + std::to_string(n);
  line("categories: " + std::to_string(categories.size()) + " (" + cats + "), entropy " + fmt_double(category_entropy_bits, 2) + " bits");
  if (!end_of_turn.empty())
    line("end-of-turn '" + end_of_turn + "' in " + std::to_string(samples_with_end_of_turn) + " of " + std::to_string(samples) + " formatted samples");
  for (const auto& f : findings) line(f.severity + " [" + f.code + "]: " + f.message);
  return o;
}

}  // namespace quantlab::calib
