#include "quantlab/calib/model_template.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/model/model.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

namespace quantlab::calib {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<std::string> gguf_token_text(const GgufFile& f, const char* id_key) {
  const GgufValue* id = f.find(id_key);
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || !tokens) return std::nullopt;
  const int64_t k = id->as_int(f.path(), id_key);
  const GgufArray& arr = tokens->as_array(f.path(), "tokenizer.ggml.tokens");
  if (k < 0 || static_cast<size_t>(k) >= arr.items.size())
    throw Error(f.path(), id_key, "token id " + std::to_string(k) + " is outside the vocabulary");
  return arr.items[static_cast<size_t>(k)].as_string(f.path(), "tokenizer.ggml.tokens");
}

// tokenizer_config.json's template, or nullopt when it has none (a base model).
std::optional<text::ChatTemplate> from_config(const std::string& path) {
  try {
    return text::ChatTemplate::from_tokenizer_config(path);
  } catch (const Error& e) {
    if (e.field() == "chat_template" && e.message().rfind("missing", 0) == 0) return std::nullopt;
    throw;
  }
}

}  // namespace

std::optional<text::ChatTemplate> load_model_chat_template(const std::string& model_path) try {
  namespace fs = std::filesystem;
  if (fs::is_directory(model_path)) {
    const fs::path cfg = fs::path(model_path) / "tokenizer_config.json";
    if (!fs::exists(cfg)) throw Error(model_path, "tokenizer_config.json", "missing in the model folder");
    // A chat_template.jinja beside it (newer transformers) takes precedence, as in transformers.
    const fs::path jinja = fs::path(model_path) / "chat_template.jinja";
    auto base = from_config(cfg.string());
    if (fs::exists(jinja)) {
      std::ifstream in(jinja, std::ios::binary);
      std::string src((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return text::ChatTemplate(src, jinja.string(), base ? base->tokens() : text::ChatSpecialTokens{});
    }
    return base;
  }
  if (ends_with(model_path, ".json")) return from_config(model_path);
  // Told by the bytes, not the name; a llama2.c checkpoint carries no chat template.
  const ModelFileKind kind = model_file_kind(model_path);
  if (kind == ModelFileKind::Llama2c) return std::nullopt;
  if (kind == ModelFileKind::Gguf) {
    const GgufFile f(model_path);
    const GgufValue* t = f.find("tokenizer.chat_template");
    if (!t) return std::nullopt;
    text::ChatSpecialTokens tokens;
    tokens.bos_token = gguf_token_text(f, "tokenizer.ggml.bos_token_id");
    tokens.eos_token = gguf_token_text(f, "tokenizer.ggml.eos_token_id");
    return text::ChatTemplate(t->as_string(model_path, "tokenizer.chat_template"),
                              model_path + ":tokenizer.chat_template", tokens);
  }
  if (!fs::exists(model_path)) throw Error(model_path, "", "no such file or folder");
  throw Error(model_path, "", "expected a model folder, a tokenizer_config.json, a GGUF file or a llama2.c checkpoint");
} catch (...) {  // std::filesystem's errors (a path too long, no permission) name the model
  rethrow_as_error(model_path, "chat template");
}

}  // namespace quantlab::calib
