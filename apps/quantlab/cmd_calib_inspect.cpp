// quantlab calib inspect DATA [--model M]: what a calibration set looks like and what packing
// will do to it, as text or JSON (--json, --out FILE).
#include "command.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/diagnostics.hpp"
#include "quantlab/calib/model_template.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/error.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace quantlab::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

size_t non_negative(const Args& a, const std::string& name, long long fallback) {
  const long long v = a.get_int(name, fallback);
  if (v < 0) throw Error("--" + name, std::to_string(v), "must not be negative");
  return static_cast<size_t>(v);
}

// Writes `text` to `path` through a temporary file and a rename, so a failure leaves no partial file.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path, "", "cannot create the output file");
    out << text;
    out.flush();
    if (!out) throw Error(path, "", "cannot write the output file");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(path, "", "cannot move the output into place");
  }
}

int run_calib_inspect(const Args& a) {
  if (a.positional().size() != 1) throw Error("calib inspect", "DATA", "expected one dataset path");
  const std::string data_path = a.positional()[0];

  calib::DatasetOptions dopt;
  if (auto f = a.get("format")) dopt.shape = calib::parse_shape(*f);
  for (const auto& m : a.all("field")) calib::set_mapping_field(dopt.mapping, m);

  std::optional<text::ChatTemplate> model_template;
  std::optional<Tokenizer> tokenizer;
  std::string tokenizer_note = "none (give --model for token statistics)";
  if (auto m = a.get("model")) {
    model_template = calib::load_model_chat_template(*m);
    try {
      tokenizer.emplace(Tokenizer::load(*m));
      tokenizer_note = *m;
    } catch (const Error& e) {  // a folder with only tokenizer_config.json still gives its template
      tokenizer_note = std::string("unavailable: ") + e.what();
    }
  }
  std::optional<text::ChatTemplate> override_template;
  if (auto t = a.get("template")) {
    if (t->size() >= 5 && t->compare(t->size() - 5, 5, ".json") == 0) {
      override_template = text::ChatTemplate::from_tokenizer_config(*t);
    } else {
      std::ifstream in(*t, std::ios::binary);
      if (!in) throw Error(*t, "", "cannot open the template file");
      std::string src((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      override_template.emplace(src, *t, model_template ? model_template->tokens() : text::ChatSpecialTokens{});
    }
  }

  calib::DiagnoseOptions opt;
  calib::TokenizerFn tok_fn;
  if (tokenizer) {
    tok_fn = calib::tokenizer_fn(*tokenizer);
    opt.tokenizer = &tok_fn;
  }
  opt.model_has_chat_template = model_template.has_value();
  opt.format.chat_template = override_template ? &*override_template : model_template ? &*model_template : nullptr;
  if (a.has("raw") && a.has("text-template")) throw Error("--raw", "", "cannot be combined with --text-template");
  if (auto tt = a.get("text-template")) {
    opt.format.mode = calib::FormatMode::TextTemplate;
    opt.format.text_template = *tt;
  } else if (a.has("raw")) {
    opt.format.mode = calib::FormatMode::Raw;
  }
  if (auto p = a.get("packing")) opt.packing.mode = calib::parse_packing(*p);
  if (auto o = a.get("overflow")) opt.packing.overflow = calib::parse_overflow(*o);
  opt.packing.seq_len = non_negative(a, "seq-len", 512);
  if (opt.packing.seq_len == 0) throw Error("--seq-len", "0", "must be at least 1");
  opt.packing.select.num_samples = non_negative(a, "samples", 0);
  opt.packing.select.seed = non_negative(a, "seed", 0);
  opt.packing.select.min_tokens = non_negative(a, "min-tokens", 0);
  opt.packing.select.max_tokens = non_negative(a, "max-tokens", 0);
  opt.packing.select.stratify = a.has("stratify");
  if (auto l = a.get("languages")) opt.packing.select.language_order = split_commas(*l);
  opt.end_of_turn = a.get_or("eot", "");

  const calib::Dataset data = calib::read_dataset(data_path, dopt);
  const calib::Diagnostics d = calib::diagnose(data, opt);  // throws before anything is written
  auto j = d.to_json();
  j["tokenizer"] = tokenizer_note;
  if (auto out = a.get("out")) write_atomically(*out, j.dump(2) + "\n");
  if (a.has("json")) {
    print_json(j);
  } else {
    std::printf("%s", d.to_text().c_str());
    if (!opt.tokenizer) std::printf("tokens: not measured; tokenizer %s\n", tokenizer_note.c_str());
  }
  return 0;
}

QUANTLAB_COMMAND(Command{
    "calib inspect",
    "describe a calibration dataset: sizes, languages, noise, duplicates, template and packing checks",
    {
        {"model", Takes::Value, "model folder, tokenizer_config.json or .gguf (its chat template)"},
        {"format", Takes::Value, "dataset shape: auto, alpaca, dolly, messages, sharegpt, mapped, text-lines, text-paragraphs, text-file"},
        {"field", Takes::Values, "field mapping ROLE=FIELD (prompt, input, response, system, category, text, messages)"},
        {"template", Takes::Value, "chat template file (.jinja) or tokenizer_config.json to use instead of the model's"},
        {"text-template", Takes::Value, "Olive-style text template, e.g. '### Question: {prompt}\\n### Answer: {response}'"},
        {"raw", Takes::Nothing, "join conversation turns as plain text (no template)"},
        {"packing", Takes::Value, "per-sample (default), concat-chunk or imatrix-chunk"},
        {"seq-len", Takes::Value, "longest sample (per-sample) or block length (chunk modes); default 512"},
        {"overflow", Takes::Value, "per-sample: truncate (default) or drop"},
        {"samples", Takes::Value, "number of samples to select (default: all)"},
        {"seed", Takes::Value, "selection seed (default 0)"},
        {"min-tokens", Takes::Value, "drop samples shorter than this"},
        {"max-tokens", Takes::Value, "drop samples longer than this"},
        {"stratify", Takes::Nothing, "keep category proportions when sampling"},
        {"languages", Takes::Value, "ordered language mix, e.g. en,ja"},
        {"eot", Takes::Value, "end-of-turn text to check for (default: from the chat template)"},
        {"out", Takes::Value, "also write the JSON report to this file"},
    },
    run_calib_inspect});

}  // namespace
}  // namespace quantlab::cli
