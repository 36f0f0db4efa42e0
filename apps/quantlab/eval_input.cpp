#include "eval_input.hpp"

#include "model_tokenizer.hpp"
#include "token_ids.hpp"

#include "quantlab/core/mapped_file.hpp"

namespace quantlab::cli {

EvalInput load_eval_input(const Args& args, const std::string& model_path) {
  if (args.has("file") == args.has("ids")) throw Error("--file", "", "give exactly one of --file and --ids");
  EvalInput in;
  if (args.has("ids")) {
    in.path = args.require("ids");
    in.kind = "token ids";
    in.tokens = read_token_ids_file(in.path);
    return in;
  }
  in.path = args.require("file");
  in.kind = "text";
  const std::optional<Tokenizer> tokenizer = tokenizer_for_model(args, model_path);
  if (!tokenizer) throw Error("--file", "", "this model has no tokenizer inside; give --tokenizer PATH or --ids");
  const MappedFile text(in.path);
  in.tokens = tokenizer->encode({reinterpret_cast<const char*>(text.data()), text.size()}, true, false);
  return in;
}

int thread_count(const Args& args) {
  const long long threads = args.get_int("threads", 0);
  if (threads < 0 || threads > 1024) throw Error("--threads", "", "must be between 0 (all cores) and 1024");
  return int(threads);
}

}  // namespace quantlab::cli
