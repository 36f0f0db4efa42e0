#include "quantlab/io/json.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/core/utf8.hpp"
#include "src/io/quote.hpp"

#include <set>
#include <vector>

namespace quantlab {
namespace {

// Nesting depth of the text, stopping at the first byte that exceeds `max_depth` (returned as
// its offset). Strings are skipped so that brackets inside them do not count.
std::optional<size_t> first_too_deep(std::string_view t, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the rest is what matters.
std::string parser_message(const std::string& what) {
  const auto p = what.find("] ");
  std::string m = p == std::string::npos ? what : what.substr(p + 2);
  std::string r;
  for (char c : m) r += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  return r.size() > 300 ? r.substr(0, 300) + "..." : r;
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits,
                          const std::string& where) {
  if (text.size() > limits.max_bytes)
    throw Error(source, where, std::to_string(text.size()) + " bytes of JSON exceed the limit of " + std::to_string(limits.max_bytes));
  if (const size_t bad = utf8_first_invalid(text); bad != text.size())
    throw Error(source, where + " byte " + std::to_string(bad), "invalid UTF-8");
  if (const auto deep = first_too_deep(text, limits.max_depth))
    throw Error(source, where + " byte " + std::to_string(*deep),
                "JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::optional<std::string> duplicate;
  nlohmann::json::parser_callback_t cb = nullptr;
  if (limits.reject_duplicate_keys) {
    cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (ev == E::object_start) keys.emplace_back();
      else if (ev == E::object_end && !keys.empty()) keys.pop_back();
      else if (ev == E::key && !keys.empty() && parsed.is_string() && !duplicate) {
        if (!keys.back().insert(parsed.get_ref<const std::string&>()).second) duplicate = parsed.get<std::string>();
      }
      return true;
    };
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(source, where + " byte " + std::to_string(e.byte), "invalid JSON: " + parser_message(e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, where, "invalid JSON: " + parser_message(e.what()));
  }
  if (duplicate) throw Error(source, where + " key " + io_detail::printable_name(*duplicate), "duplicate key");
  return j;
}

nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits) {
  MappedFile f(path);
  if (f.size() > limits.max_bytes)
    throw Error(path, "size", std::to_string(f.size()) + " bytes of JSON exceed the limit of " + std::to_string(limits.max_bytes));
  return parse_json(std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), path, limits);
}

const nlohmann::json* json_member(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t json_int(const nlohmann::json& obj, const std::string& key, const std::string& source, std::optional<int64_t> fallback) {
  const auto* v = json_member(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(source, key, "missing (expected an integer)");
  }
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) throw Error(source, key, "integer out of range");
    return v->get<int64_t>();
  }
  throw Error(source, key, std::string("expected an integer, found ") + v->type_name());
}

double json_number(const nlohmann::json& obj, const std::string& key, const std::string& source, std::optional<double> fallback) {
  const auto* v = json_member(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(source, key, "missing (expected a number)");
  }
  if (v->is_number()) return v->get<double>();
  throw Error(source, key, std::string("expected a number, found ") + v->type_name());
}

bool json_bool(const nlohmann::json& obj, const std::string& key, const std::string& source, std::optional<bool> fallback) {
  const auto* v = json_member(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(source, key, "missing (expected true or false)");
  }
  if (v->is_boolean()) return v->get<bool>();
  throw Error(source, key, std::string("expected true or false, found ") + v->type_name());
}

std::string json_string(const nlohmann::json& obj, const std::string& key, const std::string& source,
                        std::optional<std::string> fallback) {
  const auto* v = json_member(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(source, key, "missing (expected a string)");
  }
  if (v->is_string()) return v->get<std::string>();
  throw Error(source, key, std::string("expected a string, found ") + v->type_name());
}

}  // namespace quantlab
