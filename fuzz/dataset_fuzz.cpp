// Calibration dataset readers, every --format (and auto-detection by extension), and the
// multiple-choice question reader (`eval mc --data`). The first byte picks the format and the file
// name; the rest is the file. Accepted datasets must hold samples that name their file and line.
#include "fuzz_file.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/eval/multiple_choice.hpp"

namespace {

struct Mode {
  const char* format;  // as --format takes it
  const char* file;    // the extension decides between JSON, JSON lines and text
};
constexpr Mode kModes[] = {
    {"auto", "data.jsonl"},       {"auto", "data.json"},         {"auto", "data.txt"},
    {"alpaca", "data.jsonl"},     {"dolly", "data.jsonl"},       {"messages", "data.json"},
    {"sharegpt", "data.jsonl"},   {"mapped", "data.jsonl"},      {"text-lines", "data.txt"},
    {"text-paragraphs", "data.txt"}, {"text-file", "data.txt"},  {"mc", "questions.jsonl"},
};
constexpr size_t kModeCount = sizeof(kModes) / sizeof(kModes[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  if (size == 0) return 0;
  const Mode& mode = kModes[data[0] % kModeCount];
  const std::string path = fuzz::write_named(mode.file, data + 1, size - 1);
  try {
    if (std::string(mode.format) == "mc") {
      for (const auto& q : read_mc_questions(path))
        if (q.continuations.empty() || q.gold < 0 || size_t(q.gold) >= q.continuations.size()) __builtin_trap();
      return 0;
    }
    calib::DatasetOptions o;
    o.shape = calib::parse_shape(mode.format);
    if (o.shape == calib::DatasetShape::Mapped) {
      calib::set_mapping_field(o.mapping, "prompt=question");
      calib::set_mapping_field(o.mapping, "response=answer");
      calib::set_mapping_field(o.mapping, "system=sys");
    }
    const auto ds = calib::read_dataset(path, o);
    if (ds.samples.empty() || ds.sha256.size() != 64) __builtin_trap();
    for (const auto& s : ds.samples)
      if (s.source != path) __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
