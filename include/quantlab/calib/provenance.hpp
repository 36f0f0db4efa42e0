#pragma once
// The calibration part of every output's provenance (DESIGN.md): which data, exactly (content
// hash), how many samples, packed how, formatted with which template.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace quantlab::calib {

struct Provenance {
  std::string dataset_name;      // file name without folders
  std::string dataset_path;
  std::string dataset_sha256;    // of the file's bytes
  std::string dataset_format;    // alpaca, dolly, messages, ...
  size_t samples_in_file = 0;
  size_t samples_used = 0;       // after selection
  std::string packing;           // per-sample, concat-chunk, imatrix-chunk
  size_t seq_len = 0;
  std::string overflow;          // per-sample: truncate or drop
  uint64_t seed = 0;
  std::string template_kind;     // chat-template, text-template, raw
  std::string template_name;     // where the chat template came from, or the text template itself
  std::string template_sha256;   // of the template source ("" for raw)
  std::string tool_version;

  nlohmann::ordered_json to_json() const;
  static Provenance from_json(const nlohmann::ordered_json& j);  // throws Error naming the field
};

}  // namespace quantlab::calib
