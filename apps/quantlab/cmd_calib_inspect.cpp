// quantlab calib inspect DATA [--model M]: what a calibration set looks like and what packing
// will do to it, as text or JSON (--json, --out FILE).
#include "calibration_input.hpp"
#include "command.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/diagnostics.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/error.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace quantlab::cli {
namespace {

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

  const std::string model_path = a.get_or("model", "");
  const auto setup = calibration_setup(a, model_path, 0);
  std::optional<Tokenizer> tokenizer;
  std::string tokenizer_note = "none (give --model for token statistics)";
  if (auto t = a.get("tokenizer")) {
    tokenizer.emplace(Tokenizer::load(*t));
    tokenizer_note = *t;
  } else if (!model_path.empty()) {
    try {
      tokenizer.emplace(Tokenizer::load(model_path));
      tokenizer_note = model_path;
    } catch (const Error& e) {  // a folder with only tokenizer_config.json still gives its template
      tokenizer_note = std::string("unavailable: ") + e.what();
    }
  }

  calib::DiagnoseOptions opt;
  calib::TokenizerFn tok_fn;
  if (tokenizer) {
    tok_fn = calib::tokenizer_fn(*tokenizer);
    opt.tokenizer = &tok_fn;
  }
  opt.model_has_chat_template = setup->model_template.has_value();
  opt.format = setup->options.format;
  opt.packing = setup->options.packing;
  opt.end_of_turn = a.get_or("eot", "");

  const calib::Dataset data = calib::read_dataset(data_path, setup->options.dataset);
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
    [] {
      std::vector<FlagSpec> flags = {
          {"model", Takes::Value, "model folder, tokenizer_config.json, .gguf or llama2.c checkpoint (its chat template and tokenizer)"},
          {"tokenizer", Takes::Value, "tokenizer file (a llama2.c model's tokenizer.bin; default: the --model's own)"},
          {"eot", Takes::Value, "end-of-turn text to check for (default: from the chat template)"},
          {"out", Takes::Value, "also write the JSON report to this file"},
      };
      for (auto& f : calibration_flags()) flags.push_back(std::move(f));
      return flags;
    }(),
    run_calib_inspect,
    {"DATA", "calibration dataset (.jsonl, .json, .parquet, .txt; see docs/calibration.md)", 1}});

}  // namespace
}  // namespace quantlab::cli
