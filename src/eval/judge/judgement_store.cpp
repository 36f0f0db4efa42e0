#include "quantlab/eval/judgement_store.hpp"

#include "quantlab/core/error.hpp"

#include <filesystem>
#include <vector>

namespace quantlab {

JudgementStore::JudgementStore(std::string path, bool reuse) : path_(std::move(path)) {
  if (reuse && std::filesystem::exists(path_)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw Error(path_, "judgements", "cannot be read");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    in.close();
    const uintmax_t size = std::filesystem::file_size(path_);
    uintmax_t kept = 0;  // bytes of the whole lines read
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string where = path_ + ":" + std::to_string(i + 1);
      const bool last_without_newline = i + 1 == lines.size() && size == kept + lines[i].size();
      if (last_without_newline) {
        // Cut by a kill mid-write (every line add() writes ends in a newline): asked again.
        std::filesystem::resize_file(path_, kept);
        break;
      }
      kept += lines[i].size() + 1;
      if (lines[i].empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) throw Error(where, "json", "not a JSON object");
      if (!j.contains("key") || !j["key"].is_string()) throw Error(where, "key", "missing or not a string");
      if (!j.contains("answered") || !j["answered"].is_boolean()) throw Error(where, "answered", "missing or not true/false");
      ++read_;
      if (j["answered"].get<bool>()) answered_[j["key"].get<std::string>()] = j;
    }
  }
  out_.open(path_, reuse ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(path_, "judgements", "cannot be written");
}

const nlohmann::json* JudgementStore::find(const std::string& key) const {
  const auto it = answered_.find(key);
  return it == answered_.end() ? nullptr : &it->second;
}

void JudgementStore::add(const nlohmann::ordered_json& line) {
  const std::string s = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  out_.write(s.data(), std::streamsize(s.size()));
  out_.flush();
  if (!out_) throw Error(path_, "judgements", "write failed");
}

}  // namespace quantlab
