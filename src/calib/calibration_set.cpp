#include "quantlab/calib/calibration_set.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"

#include <filesystem>

namespace quantlab::calib {

Provenance make_provenance(const Dataset& data, const FormatOptions& format, const PackingOptions& packing,
                           size_t samples_used, const std::string& dataset_name) {
  Provenance p;
  p.dataset_path = data.path;
  p.dataset_name = !dataset_name.empty() ? dataset_name : std::filesystem::path(data.path).filename().string();
  p.dataset_sha256 = data.sha256;
  p.dataset_format = shape_name(data.shape);
  p.samples_in_file = data.samples.size();
  p.samples_used = samples_used;
  p.packing = packing_name(packing.mode);
  p.seq_len = packing.seq_len;
  p.overflow = overflow_name(packing.overflow);
  p.seed = packing.select.seed;
  switch (format.mode) {
    case FormatMode::ChatTemplate:
      p.template_kind = format.chat_template ? "chat-template" : "raw";
      if (format.chat_template) {
        p.template_name = format.chat_template->name();
        const auto& src = format.chat_template->source();
        p.template_sha256 = sha256_hex(src.data(), src.size());
      }
      break;
    case FormatMode::TextTemplate:
      p.template_kind = "text-template";
      p.template_name = format.text_template;
      p.template_sha256 = sha256_hex(format.text_template.data(), format.text_template.size());
      break;
    case FormatMode::Raw: p.template_kind = "raw"; break;
  }
  p.tool_version = QUANTLAB_VERSION;
  return p;
}

CalibrationSet build_calibration_set(const std::string& path, const CalibrationOptions& opt, const TokenizerFn& tok) {
  const Dataset data = read_dataset(path, opt.dataset);
  PackedSet packed = pack(data.samples, opt.format, tok, opt.packing);
  if (packed.sequences.empty())
    throw Error(path, "", "no calibration sequence remains after selection and packing (" +
                              std::to_string(packed.stats.selected) + " samples selected, seq_len " +
                              std::to_string(opt.packing.seq_len) + ")");
  CalibrationSet set;
  set.sequences = std::move(packed.sequences);
  set.stats = packed.stats;
  set.provenance = make_provenance(data, opt.format, opt.packing, packed.stats.selected, opt.dataset_name);
  return set;
}

}  // namespace quantlab::calib
