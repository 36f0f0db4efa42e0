#pragma once
// The replies of `eval answers`, one JSON object per line (replies.jsonl), so that a rerun with
// --reuse takes a reply from the file instead of generating it again. Each line carries a `key`:
// the sha256 of everything that decides the reply (the model's files, the prompt's tokens, the
// sampler settings, the seed, max_tokens); a reply is reused only when its key matches exactly.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace quantlab {

struct StoredReply {
  std::string prompt_set;  // label of the prompt file
  std::string model;       // as given on the command line
  std::string prompt_id;
  int64_t seed = -1;       // -1: greedy
  std::string text;
  int64_t tokens = 0;      // answer tokens (end token not counted)
  std::string finish;      // "stop" or "length"
  std::string key;

  nlohmann::ordered_json to_json() const;
  // Throws Error naming `where` (file:line) and the missing or mistyped field.
  static StoredReply from_json(const nlohmann::json& j, const std::string& where);
};

class ReplyStore {
 public:
  // With `reuse`, the lines already in `path` are read (a missing file is an empty store) and the
  // file is appended to; without, it is started empty. A damaged line is an error naming path:line
  // (a line cut by a kill, the last one, is ignored: it is generated again).
  ReplyStore(std::string path, bool reuse);
  // A reply read at start (only those: without --reuse nothing is ever taken, not even a reply of
  // an identical model file generated earlier in the same run).
  const StoredReply* find(const std::string& key) const;
  // Writes the reply as one line at once and flushes it, so a killed run loses at most that line.
  void add(const StoredReply& r);
  size_t reused() const { return reused_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, StoredReply> by_key_;
  std::ofstream out_;
  mutable size_t reused_ = 0;
};

}  // namespace quantlab
