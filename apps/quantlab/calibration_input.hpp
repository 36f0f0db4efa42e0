#pragma once
// The calibration set of a command (quantize's calibrated methods, imatrix, calib inspect): the same
// flags, the same reading, templating and packing (calib/), and the same provenance record,
// whichever command asks — so GPTQ, AWQ and an imatrix built from "the same data" see the same tokens.
#include "args.hpp"

#include "quantlab/calib/calibration_set.hpp"
#include "quantlab/text/chat_template.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::cli {

// What the calibration flags say. Owns the chat templates that `options.format` points to, so it
// is neither copied nor moved (held by unique_ptr).
struct CalibrationSetup {
  calib::CalibrationOptions options;
  std::optional<text::ChatTemplate> model_template;     // the model's own, when it ships one
  std::optional<text::ChatTemplate> override_template;  // --template
  CalibrationSetup() = default;
  CalibrationSetup(const CalibrationSetup&) = delete;
  CalibrationSetup& operator=(const CalibrationSetup&) = delete;
};

// A --template FILE: a Jinja file (with the model's BOS/EOS texts when it has a template of its own)
// or a tokenizer_config.json.
text::ChatTemplate load_template_file(const std::string& path, const std::optional<text::ChatTemplate>& model_template);

// --format, --field, --template, --text-template, --raw, --packing, --seq-len, --overflow, --samples,
// --seed, --min-tokens, --max-tokens, --stratify, --languages.
std::vector<FlagSpec> calibration_flags();

// Parses those flags. `model_path` (may be empty) supplies the model's chat template, used for chat
// samples unless --raw/--text-template/--template say otherwise. `default_samples`: --samples absent.
std::unique_ptr<CalibrationSetup> calibration_setup(const Args& a, const std::string& model_path,
                                                    size_t default_samples);

struct CalibrationInput {
  std::vector<std::vector<int32_t>> sequences;  // packed token sequences, each run on its own
  calib::PackingStats stats;
  calib::Provenance provenance;
};

// Reads --calib (required) and renders, selects and packs it with the model's tokenizer and chat
// template (128 samples unless --samples). Throws Error naming the file when nothing usable remains.
CalibrationInput load_calibration_input(const Args& a, const std::string& model_path);

}  // namespace quantlab::cli
