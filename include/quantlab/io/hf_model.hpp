#pragma once
// A Hugging Face model folder: config.json (required), generation_config.json,
// tokenizer_config.json (optional, parsed here), tokenizer.json / tokenizer.model (paths only:
// the text layer parses them), and the safetensors weights (single file or sharded index).
// Every JSON file goes through the guarded parser; errors name the file and the field.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace quantlab {

struct JsonFile {
  std::string path;
  nlohmann::json json;
};

struct HfModelDir {
  std::string dir;
  JsonFile config;                               // config.json, an object
  std::optional<JsonFile> generation_config;     // generation_config.json
  std::optional<JsonFile> tokenizer_config;      // tokenizer_config.json
  std::optional<std::string> tokenizer_json;     // path of tokenizer.json
  std::optional<std::string> tokenizer_model;    // path of tokenizer.model (SentencePiece)
  std::optional<std::string> weights;            // model.safetensors.index.json or model.safetensors

  // config "architectures"[0] (e.g. "LlamaForCausalLM"), else "model_type", else "unknown".
  std::string architecture() const;
  // config "model_type" ("llama", "qwen2", ...); throws naming config.json if absent.
  std::string model_type() const;
};

// Throws Error naming the folder if it has no config.json, or the file + field of a bad JSON.
HfModelDir read_hf_model_dir(const std::string& dir);

// True if `dir` is a folder with a config.json.
bool is_hf_model_dir(const std::string& dir);

}  // namespace quantlab
