#pragma once
// Every request a judge run sends and the answer it got, one JSON object per line
// (judgements.jsonl), written as it happens so that a killed run loses at most the line being
// written. Each line carries a `key` -- the sha256 of everything that decides the judge's answer --
// and `answered`: whether the endpoint replied (a verdict, or a reply that could not be read as
// one). With --reuse a rerun takes every answered line whose key it needs instead of asking again;
// a line whose request failed (no reply after the retries) is asked again, and the new line, later
// in the file, is the one that counts.
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>

namespace quantlab {

class JudgementStore {
 public:
  // With `reuse`, the lines already in `path` are read (a missing file is an empty store) and the file
  // is appended to; without, it is started empty. A damaged line is an error naming path:line and
  // the field; the last line, cut by a kill mid-write (no newline after it), is dropped.
  JudgementStore(std::string path, bool reuse);
  // The last answered line with this key among those read at start, or null.
  const nlohmann::json* find(const std::string& key) const;
  // Writes one line at once and flushes it. `line` must have "key" and "answered".
  void add(const nlohmann::ordered_json& line);
  const std::string& path() const { return path_; }
  size_t read_lines() const { return read_; }

 private:
  std::string path_;
  std::map<std::string, nlohmann::json> answered_;
  std::ofstream out_;
  size_t read_ = 0;
};

}  // namespace quantlab
