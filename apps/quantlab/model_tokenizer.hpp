#pragma once
// The tokenizer that goes with a model on the command line: --tokenizer PATH when given, else
// the model file itself when it is a GGUF (its vocabulary travels with it), else the model
// folder's tokenizer.json. Throws when `model_path` is not a model at all.
#include "args.hpp"

#include "quantlab/text/tokenizer.hpp"

#include <optional>
#include <string>

namespace quantlab::cli {

// Empty when none applies (a llama2.c checkpoint without --tokenizer).
std::optional<Tokenizer> tokenizer_for_model(const Args& args, const std::string& model_path);

}  // namespace quantlab::cli
