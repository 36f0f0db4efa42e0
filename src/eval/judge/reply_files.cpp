#include "quantlab/eval/reply_files.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace quantlab {

namespace fs = std::filesystem;

const IndexedReply* ReplyIndex::find(const ReplyId& id) const {
  const auto it = replies.find(id);
  return it == replies.end() ? nullptr : &it->second;
}

std::string ReplyIndex::resolve_model(const std::string& name, const std::string& flag) const {
  for (const std::string& m : models)
    if (m == name) return m;
  std::vector<std::string> by_file;
  for (const std::string& m : models)
    if (fs::path(m).filename() == fs::path(name).filename() ||
        (fs::path(m).filename().empty() && fs::path(m).parent_path().filename() == name))
      by_file.push_back(m);
  if (by_file.size() == 1) return by_file[0];
  std::string list;
  for (const std::string& m : models) list += (list.empty() ? "" : ", ") + m;
  throw Error(flag, name, by_file.empty() ? "no such model in the replies (they hold: " + list + ")"
                                          : "names several models in the replies (give the full name: " + list + ")");
}

ReplyIndex read_reply_dirs(const std::vector<std::string>& dirs) {
  ReplyIndex index;
  for (const std::string& dir : dirs) {
    const std::string path = (fs::path(dir) / "replies.jsonl").string();
    if (!fs::is_directory(dir)) throw Error(dir, "replies.jsonl", "not a folder written by eval answers --out");
    if (!fs::is_regular_file(path)) throw Error(dir, "replies.jsonl", "missing: not a folder written by eval answers --out");
    ReplyFile file{dir, path, sha256_file(path), 0};
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "", "cannot be read");
    std::string line;
    size_t n = 0;
    uintmax_t bytes = 0;
    const uintmax_t size = fs::file_size(path);
    while (std::getline(in, line)) {
      ++n;
      bytes += line.size();
      const std::string where = path + ":" + std::to_string(n);
      if (bytes == size && !line.empty())
        throw Error(where, "json", "the last line is cut (eval answers was stopped mid-write; rerun it with --reuse)");
      ++bytes;  // the newline
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object()) throw Error(where, "json", "not a JSON object");
      StoredReply r = StoredReply::from_json(j, where);
      const ReplyId id{r.prompt_set, r.model, r.prompt_id, r.seed};
      if (std::find(index.models.begin(), index.models.end(), r.model) == index.models.end()) index.models.push_back(r.model);
      auto [it, fresh] = index.replies.insert_or_assign(id, IndexedReply{std::move(r), where});
      if (fresh) index.order.push_back(id);
      ++file.lines;
    }
    index.files.push_back(std::move(file));
  }
  return index;
}

}  // namespace quantlab
