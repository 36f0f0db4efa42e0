#include "quantlab/io/hf_model.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/io/json.hpp"

#include <filesystem>

namespace quantlab {
namespace fs = std::filesystem;

namespace {

std::optional<JsonFile> read_optional_object(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  JsonFile f{p.string(), read_json_file(p.string())};
  if (!f.json.is_object()) throw Error(f.path, "", "expected a JSON object at the top level");
  return f;
}

std::optional<std::string> existing(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p.string();
  return std::nullopt;
}

}  // namespace

bool is_hf_model_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / "config.json", ec);
}

HfModelDir read_hf_model_dir(const std::string& dir) try {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir, "", "not a folder");
  const fs::path d(dir);
  HfModelDir m;
  m.dir = dir;
  auto config = read_optional_object(d / "config.json");
  if (!config) throw Error(dir, "config.json", "missing: not a Hugging Face model folder");
  m.config = std::move(*config);
  m.generation_config = read_optional_object(d / "generation_config.json");
  m.tokenizer_config = read_optional_object(d / "tokenizer_config.json");
  m.tokenizer_json = existing(d / "tokenizer.json");
  m.tokenizer_model = existing(d / "tokenizer.model");
  m.weights = existing(d / "model.safetensors.index.json");
  if (!m.weights) m.weights = existing(d / "model.safetensors");
  return m;
} catch (...) {
  rethrow_as_error(dir, "");
}

std::string HfModelDir::architecture() const {
  if (const auto* a = json_member(config.json, "architectures")) {
    if (!a->is_array() || a->empty() || !(*a)[0].is_string())
      throw Error(config.path, "architectures", "expected a non-empty array of strings");
    return (*a)[0].get<std::string>();
  }
  return json_string(config.json, "model_type", config.path, std::string("unknown"));
}

std::string HfModelDir::model_type() const { return json_string(config.json, "model_type", config.path); }

}  // namespace quantlab
