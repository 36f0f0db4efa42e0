#pragma once
// The pre-tokenizer regexes of each byte-level BPE family, by GGUF tokenizer.ggml.pre name, as
// llama.cpp applies them (several regexes run one after the other), plus the flags llama.cpp ties
// to the name.
#include <optional>
#include <string>
#include <vector>

namespace quantlab::text_detail {

struct PretokenizerRecipe {
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // take a pre-token as is when it is a whole vocabulary token
  bool force_add_bos = false;  // llama.cpp adds BOS for this family whatever add_bos_token says
};

// nullopt for a name this build does not know.
std::optional<PretokenizerRecipe> pretokenizer_recipe(const std::string& pre);

// The regex tokenizer.json's ByteLevel pre-tokenizer uses when use_regex is true (GPT-2's).
const std::string& gpt2_pretokenizer_regex();

}  // namespace quantlab::text_detail
