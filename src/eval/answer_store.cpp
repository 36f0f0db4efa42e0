#include "quantlab/eval/answer_store.hpp"

#include "quantlab/core/error.hpp"

#include <filesystem>
#include <vector>

namespace quantlab {

nlohmann::ordered_json StoredReply::to_json() const {
  return {{"prompt_set", prompt_set}, {"model", model}, {"prompt_id", prompt_id},
          {"seed", seed < 0 ? nlohmann::ordered_json("greedy") : nlohmann::ordered_json(seed)},
          {"text", text}, {"tokens", tokens}, {"finish", finish}, {"key", key}};
}

StoredReply StoredReply::from_json(const nlohmann::json& j, const std::string& where) {
  auto str = [&](const char* f) {
    if (!j.contains(f) || !j[f].is_string()) throw Error(where, f, "missing or not a string");
    return j[f].get<std::string>();
  };
  StoredReply r;
  r.prompt_set = str("prompt_set");
  r.model = str("model");
  r.prompt_id = str("prompt_id");
  r.text = str("text");
  r.finish = str("finish");
  r.key = str("key");
  if (!j.contains("tokens") || !j["tokens"].is_number_integer()) throw Error(where, "tokens", "missing or not an integer");
  r.tokens = j["tokens"].get<int64_t>();
  if (!j.contains("seed")) throw Error(where, "seed", "missing");
  if (j["seed"].is_number_integer()) r.seed = j["seed"].get<int64_t>();
  else if (j["seed"] != "greedy") throw Error(where, "seed", "must be an integer or \"greedy\"");
  return r;
}

ReplyStore::ReplyStore(std::string path, bool reuse) : path_(std::move(path)) {
  if (reuse && std::filesystem::exists(path_)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw Error(path_, "replies", "cannot be read");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    in.close();
    uintmax_t kept = 0;  // bytes of the whole lines read
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string where = path_ + ":" + std::to_string(i + 1);
      if (lines[i].empty()) {
        ++kept;
        continue;
      }
      const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || (i + 1 == lines.size() && std::filesystem::file_size(path_) == kept + lines[i].size())) {
        // The last line, cut by a kill mid-write (no newline after it): dropped, generated again.
        if (i + 1 == lines.size()) {
          std::filesystem::resize_file(path_, kept);
          break;
        }
        throw Error(where, "json", "not a JSON object");
      }
      kept += lines[i].size() + 1;
      StoredReply r = StoredReply::from_json(j, where);
      by_key_[r.key] = std::move(r);
    }
  }
  out_.open(path_, reuse ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(path_, "replies", "cannot be written");
}

const StoredReply* ReplyStore::find(const std::string& key) const {
  const auto it = by_key_.find(key);
  if (it == by_key_.end()) return nullptr;
  ++reused_;
  return &it->second;
}

void ReplyStore::add(const StoredReply& r) {
  const std::string line = r.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  out_.write(line.data(), std::streamsize(line.size()));
  out_.flush();
  if (!out_) throw Error(path_, "replies", "write failed");
}

}  // namespace quantlab
