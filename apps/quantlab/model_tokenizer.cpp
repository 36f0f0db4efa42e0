#include "model_tokenizer.hpp"

#include "quantlab/core/mapped_file.hpp"

#include <cstring>

namespace quantlab::cli {

std::optional<Tokenizer> tokenizer_for_model(const Args& args, const std::string& model_path) {
  if (auto t = args.get("tokenizer")) return Tokenizer::load(*t);
  MappedFile probe(model_path);
  if (probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0) return Tokenizer::load(model_path);
  return std::nullopt;
}

}  // namespace quantlab::cli
