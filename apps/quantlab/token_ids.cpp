#include "token_ids.hpp"

#include "quantlab/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <sstream>

namespace quantlab::cli {
namespace {

// The JSON forms: [1, 2, 3] or the object `tokenize --json` prints, {"ids": [1, 2, 3]}.
std::vector<int32_t> parse_json_ids(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(source, "json (byte " + std::to_string(e.byte) + ")", "malformed JSON");
  }
  if (j.is_object() && !j.contains("ids")) throw Error(source, "ids", "missing: expected [..] or {\"ids\": [..]}");
  const nlohmann::json& arr = j.is_object() ? j["ids"] : j;
  if (!arr.is_array()) throw Error(source, "ids", "is not an array");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_number_integer() || arr[i].get<int64_t>() < 0 || arr[i].get<int64_t>() > INT32_MAX)
      throw Error(source, "ids[" + std::to_string(i) + "]", "is not a token id (a non-negative integer)");
    ids.push_back(arr[i].get<int32_t>());
  }
  return ids;
}

}  // namespace

std::vector<int32_t> parse_token_ids(const std::string& text, const std::string& source) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '[' || text[first] == '{')) return parse_json_ids(text, source);
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (std::isspace(ch) || ch == ',') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    const bool ends_ok = j == text.size() || std::isspace(static_cast<unsigned char>(text[j])) || text[j] == ',';
    if (j == i || !ends_ok || j - i > 9) {
      size_t end = i;
      while (end < text.size() && end - i < 24 && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != ',') ++end;
      throw Error(source, "token " + std::to_string(ids.size()),
                  "'" + text.substr(i, end - i) + "' is not a token id (byte " + std::to_string(i) + ")");
    }
    ids.push_back(int32_t(std::stol(text.substr(i, j - i))));
    i = j;
  }
  return ids;
}

std::vector<int32_t> read_token_ids_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_token_ids(ss.str(), path);
}

}  // namespace quantlab::cli
