#pragma once
// The replies of one or more `eval answers` folders (DIR/replies.jsonl), read without touching them,
// for the judge commands: which model said what to which prompt at which seed. The file is an
// append log (a --reuse run with other settings adds lines), so for one prompt set, model, prompt
// and seed the last line read wins -- across folders, in the order given.
#include "quantlab/eval/answer_store.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace quantlab {

struct ReplyFile {
  std::string dir, path, sha256;
  size_t lines = 0;
};

struct ReplyId {
  std::string prompt_set, model, prompt_id;
  int64_t seed = -1;  // -1: greedy
  auto operator<=>(const ReplyId&) const = default;
};

struct IndexedReply {
  StoredReply reply;
  std::string where;  // path:line of the line that counts
};

struct ReplyIndex {
  std::vector<ReplyFile> files;
  std::map<ReplyId, IndexedReply> replies;
  std::vector<ReplyId> order;       // each id once, in the order first read
  std::vector<std::string> models;  // each model name once, in the order first read

  const IndexedReply* find(const ReplyId& id) const;
  // The model named `name` exactly, else the one whose file or folder name is `name` when only one
  // is; throws Error naming `flag` and listing the models the replies hold.
  std::string resolve_model(const std::string& name, const std::string& flag) const;
};

// Throws Error naming the folder (no replies.jsonl), or path:line and the field of a damaged line;
// a last line cut by a kill is an error too (eval answers --reuse in that folder mends it).
ReplyIndex read_reply_dirs(const std::vector<std::string>& dirs);

}  // namespace quantlab
