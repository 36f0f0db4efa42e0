#pragma once
// The evaluation text of `eval ppl` / `eval kld`: --file TEXT (tokenized whole with the model's
// tokenizer, BOS first, special text not parsed, as llama-perplexity does) or --ids FILE.
#include "args.hpp"

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

}  // namespace quantlab::cli
