#include "model_tokenizer.hpp"

#include "quantlab/core/mapped_file.hpp"

#include <cstring>
#include <filesystem>

namespace quantlab::cli {

std::optional<Tokenizer> tokenizer_for_model(const Args& args, const std::string& model_path) {
  if (auto t = args.get("tokenizer")) return Tokenizer::load(*t);
  // A Hugging Face folder (quantlab's exports included) carries its tokenizer files beside the weights.
  std::error_code ec;
  if (std::filesystem::is_directory(model_path, ec)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json"})
      if (std::filesystem::exists(std::filesystem::path(model_path) / name, ec)) return Tokenizer::load(model_path);
    return std::nullopt;  // e.g. an export of a llama2.c model: the caller asks for --tokenizer
  }
  MappedFile probe(model_path);
  if (probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0) return Tokenizer::load(model_path);
  return std::nullopt;
}

}  // namespace quantlab::cli
