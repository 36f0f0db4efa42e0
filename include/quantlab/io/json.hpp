#pragma once
// JSON from files we do not control (config.json, tokenizer.json, safetensors headers) is parsed
// defensively: size and nesting depth are limited before the parser runs, the text must be valid
// UTF-8, and duplicate keys are refused (which value would win is parser-specific). Errors name the
// source and the byte offset. Typed field access names the source and the key.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quantlab {

struct JsonLimits {
  size_t max_depth = 64;               // nesting of arrays/objects
  size_t max_bytes = size_t(1) << 30;  // the text itself
  bool reject_duplicate_keys = true;
};

// `source` names the input in errors; `where` prefixes the offset ("header" -> "header byte 17").
nlohmann::json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits = {},
                          const std::string& where = "JSON");
// Reads and parses a whole file (mapped, then parsed as above).
nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits = {});

// Typed members of a JSON object; errors are Error(source, key, "expected ..."). The fallback is
// used only when the key is absent (or null); a present value of the wrong type is an error.
const nlohmann::json* json_member(const nlohmann::json& obj, const std::string& key);
int64_t json_int(const nlohmann::json& obj, const std::string& key, const std::string& source,
                 std::optional<int64_t> fallback = std::nullopt);
double json_number(const nlohmann::json& obj, const std::string& key, const std::string& source,
                   std::optional<double> fallback = std::nullopt);
bool json_bool(const nlohmann::json& obj, const std::string& key, const std::string& source,
               std::optional<bool> fallback = std::nullopt);
std::string json_string(const nlohmann::json& obj, const std::string& key, const std::string& source,
                        std::optional<std::string> fallback = std::nullopt);

}  // namespace quantlab
