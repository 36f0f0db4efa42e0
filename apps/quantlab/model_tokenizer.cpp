#include "model_tokenizer.hpp"

#include "quantlab/model/model.hpp"

#include <filesystem>

namespace quantlab::cli {

std::optional<Tokenizer> tokenizer_for_model(const Args& args, const std::string& model_path) {
  // Checked first, so a path that is no model is named as such before any tokenizer question.
  const ModelFileKind kind = model_file_kind(model_path);
  if (auto t = args.get("tokenizer")) return Tokenizer::load(*t);
  if (kind == ModelFileKind::Gguf) return Tokenizer::load(model_path);
  // A Hugging Face folder (quantlab's exports included) carries its tokenizer files beside the weights.
  std::error_code ec;
  if (kind == ModelFileKind::HfFolder)
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json"})
      if (std::filesystem::exists(std::filesystem::path(model_path) / name, ec)) return Tokenizer::load(model_path);
  return std::nullopt;
}

}  // namespace quantlab::cli
