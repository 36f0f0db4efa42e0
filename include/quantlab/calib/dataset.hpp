#pragma once
// Calibration dataset readers: JSON arrays and JSONL files in the common instruction/chat shapes,
// and plain text. Every error names the file, the line and (where there is one) the field.
#include "quantlab/calib/sample.hpp"

#include <string>
#include <vector>

namespace quantlab::calib {

enum class DatasetShape {
  Auto,            // decided from the first record's keys (or the file extension for text)
  Alpaca,          // instruction / input / output
  Dolly,           // instruction / context / response / category
  Messages,        // {"messages": [{"role", "content"}, ...]} (OpenAI chat)
  ShareGPT,        // {"conversations": [{"from": human|gpt|system, "value"}, ...]}
  Mapped,          // any record shape, through FieldMapping
  TextLines,       // plain text: one sample per non-empty line
  TextParagraphs,  // plain text: one sample per blank-line separated paragraph
  TextFile,        // plain text: the whole file is one sample
};

const char* shape_name(DatasetShape s);
DatasetShape parse_shape(const std::string& name);  // throws Error naming "--format"

// Field names for DatasetShape::Mapped. `prompt` (a user turn), `messages` (a field holding an
// OpenAI message list, e.g. OpenAI evals' "input") or `text` (a raw text) is required; the others
// are optional (`response` is appended as the assistant turn). A record missing a named field is an
// error naming it.
struct FieldMapping {
  std::string prompt, input, response, system, category, text, messages;
  bool empty() const {
    return prompt.empty() && input.empty() && response.empty() && system.empty() && category.empty() && text.empty() &&
           messages.empty();
  }
};
// Parses "prompt=question" style assignments (the CLI's --field flags).
void set_mapping_field(FieldMapping& m, const std::string& assignment);

struct DatasetOptions {
  DatasetShape shape = DatasetShape::Auto;
  FieldMapping mapping;  // non-empty implies Mapped when shape is Auto
};

struct Dataset {
  std::vector<Sample> samples;
  DatasetShape shape = DatasetShape::Auto;  // the shape used (after detection)
  std::string path;
  std::string sha256;  // of the file's bytes, for provenance
};

// Reads a whole dataset. Files ending in .jsonl are read line by line (streaming); .json files hold
// one array of records (or JSON lines); anything else is plain text. An empty dataset is an error.
Dataset read_dataset(const std::string& path, const DatasetOptions& options = {});

}  // namespace quantlab::calib
