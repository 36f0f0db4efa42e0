// Reading calibration datasets from disk: JSONL streamed line by line, JSON arrays split into
// records by a small scanner (so that each record keeps the line it starts on), plain text by
// line, paragraph or file. All input must be valid UTF-8.
#include "quantlab/calib/dataset.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/core/utf8.hpp"
#include "record_to_sample.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace quantlab::calib {
namespace {

using nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

size_t line_of_offset(std::string_view text, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

void check_utf8(std::string_view text, const std::string& path, size_t first_line) {
  const size_t bad = utf8_first_invalid(text);
  if (bad == text.size()) return;
  size_t col = bad;
  if (auto nl = text.rfind('\n', bad); nl != std::string_view::npos) col = bad - nl - 1;
  throw Error(path, "line " + std::to_string(first_line + line_of_offset(text, bad) - 1),
              "invalid UTF-8 at column " + std::to_string(col + 1));
}

// Parses one record; a syntax error names the line it happened on.
json parse_record(std::string_view text, const std::string& path, size_t first_line) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    const size_t at = std::min(e.byte > 0 ? e.byte - 1 : 0, text.size());
    // nlohmann's message counts lines inside the record; keep only its explanation and give the
    // file's line and the column.
    std::string what = e.what();
    if (auto p = what.find("column "); p != std::string::npos)
      if (auto q = what.find(": ", p); q != std::string::npos) what = what.substr(q + 2);
    const size_t line_start = at == 0 ? 0 : text.rfind('\n', at - 1);
    const size_t column = line_start == std::string_view::npos ? at + 1 : at - line_start;
    throw Error(path, "line " + std::to_string(first_line + line_of_offset(text, at) - 1),
                "invalid JSON at column " + std::to_string(column) + ": " + what);
  } catch (const json::exception&) {  // a number that overflows a double (out_of_range.406), ...
    rethrow_as_error(path, "line " + std::to_string(first_line));
  }
}

class SampleBuilder {
 public:
  SampleBuilder(const std::string& path, const DatasetOptions& opt) : path_(path) {
    shape_ = opt.shape;
    mapping_ = opt.mapping;
    if (shape_ == DatasetShape::Auto && !mapping_.empty()) shape_ = DatasetShape::Mapped;
  }
  // A foreign exception from a record (a JSON type or range error) names the record's line.
  void add(const json& rec, size_t line, std::vector<Sample>& out) try {
    if (shape_ == DatasetShape::Auto) {
      shape_ = detail::detect_record_shape(rec, path_, line);
      if (shape_ == DatasetShape::Mapped && rec.contains("text")) {
        mapping_.text = "text";
      } else if (shape_ == DatasetShape::Mapped) {
        mapping_.messages = "input";
        mapping_.response = "ideal";
      }
    }
    out.push_back(detail::record_to_sample(rec, shape_, mapping_, path_, line));
  } catch (...) {
    rethrow_as_error(path_, "line " + std::to_string(line));
  }
  DatasetShape shape() const { return shape_; }

 private:
  const std::string& path_;
  DatasetShape shape_;
  FieldMapping mapping_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

// JSON Lines: one record per non-blank line, read as a stream.
Dataset read_jsonl(const std::string& path, const DatasetOptions& opt) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open file");
  Dataset ds;
  ds.path = path;
  Sha256 hash;
  SampleBuilder builder(path, opt);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    hash.update(line.data(), line.size());
    if (!in.eof()) hash.update("\n", 1);
    check_utf8(line, path, n);
    if (n == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // BOM
    if (blank(line)) continue;
    builder.add(parse_record(line, path, n), n, ds.samples);
  }
  if (in.bad()) throw Error(path, "line " + std::to_string(n + 1), "read error");
  ds.sha256 = hash.hex();
  ds.shape = builder.shape();
  return ds;
}

// Offsets and lines of the top-level elements of a JSON array, found without parsing them.
struct Span {
  size_t begin, end, line;
};
std::vector<Span> split_top_level_array(std::string_view t, const std::string& path) {
  std::vector<Span> spans;
  size_t i = 0, line = 1;
  auto skip_ws = [&] {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n')) line += t[i++] == '\n';
  };
  skip_ws();
  ++i;  // '['
  skip_ws();
  if (i < t.size() && t[i] == ']') return spans;
  while (true) {
    skip_ws();
    if (i >= t.size()) throw Error(path, "line " + std::to_string(line), "invalid JSON: unterminated array");
    const size_t begin = i, begin_line = line;
    int depth = 0;
    bool in_string = false;
    for (; i < t.size(); ++i) {
      const char c = t[i];
      if (c == '\n') ++line;
      if (in_string) {
        if (c == '\\') {
          if (i + 1 < t.size() && t[i + 1] == '\n') ++line;
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') in_string = true;
      else if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the array's own ']'
        --depth;
      } else if (c == ',' && depth == 0) break;
    }
    size_t end = i;
    while (end > begin && (t[end - 1] == ' ' || t[end - 1] == '\t' || t[end - 1] == '\r' || t[end - 1] == '\n')) --end;
    if (end == begin)
      throw Error(path, "line " + std::to_string(begin_line), "invalid JSON: empty element in the array");
    spans.push_back({begin, end, begin_line});
    if (i >= t.size()) throw Error(path, "line " + std::to_string(line), "invalid JSON: unterminated array");
    if (t[i] == ']') {
      ++i;
      skip_ws();
      if (i != t.size()) throw Error(path, "line " + std::to_string(line), "invalid JSON: text after the array");
      return spans;
    }
    ++i;  // ','
  }
}

Dataset read_json(const std::string& path, const DatasetOptions& opt) {
  const std::string all = read_all(path);
  std::string_view text = all;
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.remove_prefix(3);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] != '[') return read_jsonl(path, opt);  // JSON lines
  check_utf8(text, path, 1);
  Dataset ds;
  ds.path = path;
  ds.sha256 = sha256_hex(all.data(), all.size());
  if (first == std::string_view::npos) return ds;
  SampleBuilder builder(path, opt);
  for (const Span& s : split_top_level_array(text.substr(first), path)) {
    const size_t line = s.line + line_of_offset(text, first) - 1;
    builder.add(parse_record(text.substr(first + s.begin, s.end - s.begin), path, line), line, ds.samples);
  }
  ds.shape = builder.shape();
  return ds;
}

Dataset read_text(const std::string& path, DatasetShape shape) {
  const std::string all = read_all(path);
  check_utf8(all, path, 1);
  Dataset ds;
  ds.path = path;
  ds.sha256 = sha256_hex(all.data(), all.size());
  ds.shape = shape == DatasetShape::Auto ? DatasetShape::TextParagraphs : shape;
  auto push = [&](std::string text, size_t line) {
    Sample s;
    s.text = std::move(text);
    s.source = path;
    s.line = line;
    ds.samples.push_back(std::move(s));
  };
  if (ds.shape == DatasetShape::TextFile) {
    if (!blank(all)) push(all, 1);
    return ds;
  }
  std::istringstream in(all);
  std::string line, para;
  size_t n = 0, para_line = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (ds.shape == DatasetShape::TextLines) {
      if (!blank(line)) push(line, n);
      continue;
    }
    if (blank(line)) {
      if (!para.empty()) push(std::move(para), para_line);
      para.clear();
      continue;
    }
    if (para.empty()) para_line = n;
    else para += '\n';
    para += line;
  }
  if (!para.empty()) push(std::move(para), para_line);
  return ds;
}

}  // namespace

const char* shape_name(DatasetShape s) {
  switch (s) {
    case DatasetShape::Auto: return "auto";
    case DatasetShape::Alpaca: return "alpaca";
    case DatasetShape::Dolly: return "dolly";
    case DatasetShape::Messages: return "messages";
    case DatasetShape::ShareGPT: return "sharegpt";
    case DatasetShape::Mapped: return "mapped";
    case DatasetShape::TextLines: return "text-lines";
    case DatasetShape::TextParagraphs: return "text-paragraphs";
    case DatasetShape::TextFile: return "text-file";
  }
  return "?";
}

DatasetShape parse_shape(const std::string& name) {
  for (DatasetShape s : {DatasetShape::Auto, DatasetShape::Alpaca, DatasetShape::Dolly, DatasetShape::Messages,
                         DatasetShape::ShareGPT, DatasetShape::Mapped, DatasetShape::TextLines,
                         DatasetShape::TextParagraphs, DatasetShape::TextFile})
    if (name == shape_name(s)) return s;
  throw Error("--format", name,
              "unknown dataset format (expected auto, alpaca, dolly, messages, sharegpt, mapped, text-lines, "
              "text-paragraphs or text-file)");
}

void set_mapping_field(FieldMapping& m, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == assignment.size())
    throw Error("--field", assignment, "expected ROLE=FIELD, e.g. prompt=question");
  const std::string role = assignment.substr(0, eq), field = assignment.substr(eq + 1);
  if (role == "prompt") m.prompt = field;
  else if (role == "input") m.input = field;
  else if (role == "response") m.response = field;
  else if (role == "system") m.system = field;
  else if (role == "category") m.category = field;
  else if (role == "text") m.text = field;
  else if (role == "messages") m.messages = field;
  else throw Error("--field", assignment,
                   "unknown role '" + role + "' (expected prompt, input, response, system, category, text or messages)");
}

Dataset read_dataset(const std::string& path, const DatasetOptions& options) try {
  const bool text_shape = options.shape == DatasetShape::TextLines || options.shape == DatasetShape::TextParagraphs ||
                          options.shape == DatasetShape::TextFile;
  Dataset ds;
  if (text_shape) ds = read_text(path, options.shape);
  else if (ends_with(path, ".jsonl")) ds = read_jsonl(path, options);
  else if (ends_with(path, ".json")) ds = read_json(path, options);
  else if (options.shape != DatasetShape::Auto || !options.mapping.empty()) ds = read_json(path, options);
  else ds = read_text(path, DatasetShape::Auto);
  if (ds.samples.empty()) throw Error(path, "", "the dataset has no samples");
  return ds;
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab::calib
