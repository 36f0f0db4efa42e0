#include "calibration_input.hpp"

#include "model_tokenizer.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/error.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace quantlab::cli {
namespace {

size_t non_negative(const Args& a, const std::string& name, long long fallback) {
  const long long v = a.get_int(name, fallback);
  if (v < 0) throw Error("--" + name, std::to_string(v), "must not be negative");
  return static_cast<size_t>(v);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

text::ChatTemplate load_template_file(const std::string& path, const std::optional<text::ChatTemplate>& model_template) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0)
    return text::ChatTemplate::from_tokenizer_config(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the template file");
  std::string src((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text::ChatTemplate(src, path, model_template ? model_template->tokens() : text::ChatSpecialTokens{});
}

std::vector<FlagSpec> calibration_flags() {
  return {
      {"format", Takes::Value, "dataset shape: auto, alpaca, dolly, messages, sharegpt, mapped, text-lines, text-paragraphs, text-file"},
      {"field", Takes::Values, "field mapping ROLE=FIELD (prompt, input, response, system, category, text, messages)"},
      {"template", Takes::Value, "chat template file (.jinja) or tokenizer_config.json to use instead of the model's"},
      {"text-template", Takes::Value, "Olive-style text template, e.g. '### Question: {prompt}\\n### Answer: {response}'"},
      {"raw", Takes::Nothing, "no template: conversation turns joined as plain text"},
      {"packing", Takes::Value, "per-sample (default), concat-chunk or imatrix-chunk"},
      {"seq-len", Takes::Value, "longest sample (per-sample) or block length (chunk modes); default 512"},
      {"overflow", Takes::Value, "per-sample: truncate (default) or drop"},
      {"samples", Takes::Value, "number of samples to select"},
      {"seed", Takes::Value, "selection seed (default 0)"},
      {"min-tokens", Takes::Value, "drop samples shorter than this"},
      {"max-tokens", Takes::Value, "drop samples longer than this"},
      {"stratify", Takes::Nothing, "keep category proportions when sampling"},
      {"languages", Takes::Value, "ordered language mix, e.g. en,ja"},
  };
}

std::unique_ptr<CalibrationSetup> calibration_setup(const Args& a, const std::string& model_path,
                                                    size_t default_samples) {
  auto s = std::make_unique<CalibrationSetup>();
  calib::CalibrationOptions& o = s->options;
  if (auto f = a.get("format")) o.dataset.shape = calib::parse_shape(*f);
  for (const auto& m : a.all("field")) calib::set_mapping_field(o.dataset.mapping, m);
  if (!model_path.empty()) s->model_template = calib::load_model_chat_template(model_path);
  if (auto t = a.get("template")) s->override_template = load_template_file(*t, s->model_template);
  o.format.chat_template = s->override_template ? &*s->override_template
                           : s->model_template  ? &*s->model_template
                                                : nullptr;
  if (a.has("raw") && a.has("text-template")) throw Error("--raw", "", "cannot be combined with --text-template");
  if (auto tt = a.get("text-template")) {
    o.format.mode = calib::FormatMode::TextTemplate;
    o.format.text_template = *tt;
  } else if (a.has("raw")) {
    o.format.mode = calib::FormatMode::Raw;
  }
  calib::PackingOptions& p = o.packing;
  if (auto m = a.get("packing")) p.mode = calib::parse_packing(*m);
  if (auto v = a.get("overflow")) p.overflow = calib::parse_overflow(*v);
  p.seq_len = non_negative(a, "seq-len", 512);
  if (p.seq_len == 0) throw Error("--seq-len", "0", "must be at least 1");
  p.select.num_samples = non_negative(a, "samples", static_cast<long long>(default_samples));
  p.select.seed = non_negative(a, "seed", 0);
  p.select.min_tokens = non_negative(a, "min-tokens", 0);
  p.select.max_tokens = non_negative(a, "max-tokens", 0);
  p.select.stratify = a.has("stratify");
  if (auto l = a.get("languages")) p.select.language_order = split_commas(*l);
  return s;
}

CalibrationInput load_calibration_input(const Args& a, const std::string& model_path) {
  const std::string data_path = a.require("calib");
  const auto setup = calibration_setup(a, model_path, 128);
  // Quantizers take a random subset (seeded), not the file's first samples.
  setup->options.packing.select.shuffle = true;
  std::optional<Tokenizer> tok = tokenizer_for_model(a, model_path);
  if (!tok) throw Error("--tokenizer", "", "the model carries no tokenizer; give --tokenizer");
  calib::CalibrationSet set = calib::build_calibration_set(data_path, setup->options, calib::tokenizer_fn(*tok));
  CalibrationInput in;
  in.sequences.reserve(set.sequences.size());
  for (auto& s : set.sequences) in.sequences.push_back(std::move(s.tokens));
  in.stats = set.stats;
  in.provenance = std::move(set.provenance);
  return in;
}

}  // namespace quantlab::cli
