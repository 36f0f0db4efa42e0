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

void check_context_length(const Args& args, const Model& model, int64_t n_ctx, const std::string& what) {
  const int64_t trained = model.config.n_ctx_train;
  if (trained <= 0 || n_ctx <= trained || args.has("allow-long-context")) return;
  throw Error(what, std::to_string(n_ctx),
              "longer than the context " + model.source + " was trained on (" + std::to_string(trained) +
                  " tokens); use at most " + std::to_string(trained) + ", or --allow-long-context to run it anyway");
}

FlagSpec allow_long_context_flag() {
  return {"allow-long-context", Takes::Nothing, "allow a context longer than the model's trained context"};
}

}  // namespace quantlab::cli
