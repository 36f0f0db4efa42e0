#pragma once
// The evaluation text of `eval ppl` / `eval kld`: --file TEXT (tokenized whole with the model's
// tokenizer, BOS first, special text not parsed, as llama-perplexity does) or --ids FILE.
#include "args.hpp"

#include "quantlab/model/model.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace quantlab::cli {

struct EvalInput {
  std::string path;
  std::string kind;  // "text" or "token ids"
  std::vector<int32_t> tokens;
};

EvalInput load_eval_input(const Args& args, const std::string& model_path);

// --threads N (0 = all cores), validated.
int thread_count(const Args& args);

// A context longer than the model was trained on gives numbers about RoPE extrapolation, not about
// the model (and runs for a long time): refused unless --allow-long-context, naming both lengths.
// `what` names where n_ctx came from ("--ctx", "--base's n_ctx", ...).
void check_context_length(const Args& args, const Model& model, int64_t n_ctx, const std::string& what);

// The flag that lifts that refusal, for the commands that check it.
FlagSpec allow_long_context_flag();

}  // namespace quantlab::cli
