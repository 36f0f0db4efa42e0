#pragma once
// The recipe of `quantlab sweep` (docs/sweep.md): named base models, quantization configurations,
// named calibration sets and evaluations, read from one YAML file. Reading checks everything a
// sweep needs before anything runs -- unknown keys, wrong types, values out of range, names that
// refer to nothing, combinations that cannot work (gptq without a calibration set), files that are
// absent or not models -- and reports every problem at once, one line each, naming the recipe file
// and the key path (`quantize[3].type`), so a long sweep never dies an hour in on a typo.
#include "quantlab/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::pipeline {

// A base model. The sweep quantizes a GGUF: a GGUF source is used as it is, or dequantized first
// (`dequantize: F32`, for shipped files that are already quantized); a llama2.c checkpoint is
// converted (its `tokenizer` gives the vocabulary).
struct RecipeModel {
  std::string name;
  std::string path;        // resolved
  std::string tokenizer;   // resolved; llama2.c only
  std::string dequantize;  // "", "F32", "F16" or "BF16"
  bool llama2c = false;
};

// A calibration set: the file and how `quantize --calib` would read it (same names as its flags).
struct RecipeCalibration {
  std::string name;
  std::string path;  // resolved
  std::string format = "auto";
  std::vector<std::string> fields;  // ROLE=FIELD
  std::string text_template;
  bool raw = false;
  std::string packing = "per-sample";
  std::string overflow = "truncate";
  int64_t seq_len = 512, samples = 128, seed = 0, min_tokens = 0, max_tokens = 0;
  bool stratify = false;
  std::vector<std::string> languages;
  nlohmann::ordered_json settings() const;  // everything above but the path, for keys and provenance
};

// One quantization configuration. Keys a method does not take are refused by the reader.
struct RecipeQuantize {
  std::string name;    // given, or derived from the settings
  std::string method;  // rtn gptq awq nf4 fp4 int8 gguf
  std::string type;    // gguf: GGUF type or mix; gptq: optional GGUF target
  int bits = 4;
  std::optional<int64_t> group_size;  // empty: auto
  bool sym = false, act_order = false, static_groups = false, double_quant = false, pure = false;
  double damp = 0.01;
  std::optional<int64_t> block_size;
  std::string calib;    // calibration set name (gptq, awq)
  std::string imatrix;  // calibration set name the importance matrix is collected from (gguf)
  std::string export_format = "native";
  std::vector<std::string> tensor_type;  // PATTERN=TYPE
  std::string output_tensor_type, token_embedding_type;
  nlohmann::ordered_json settings() const;  // what decides the output, but the name
};

struct RecipeEvaluation {
  std::string name;
  std::string kind;  // ppl kld mc
  std::string path;  // resolved: text (ppl, kld) or questions (mc)
  int64_t ctx = 512, chunks = -1, limit = 0;
  nlohmann::ordered_json settings() const;
};

struct Recipe {
  std::string path;  // the recipe file
  std::vector<RecipeModel> models;
  std::vector<RecipeCalibration> calibration;
  std::vector<RecipeQuantize> quantize;
  std::vector<RecipeEvaluation> evaluations;
  int threads = 0;   // 0: all cores
  int parallel = 1;  // cells at once
  std::string out;   // run directory (relative: to the current directory)
  const RecipeCalibration* find_calibration(const std::string& name) const;
};

// Every problem of a recipe: what() is the first line, lines() all of them
// ("RECIPE: KEY.PATH: what is expected, got ...").
class RecipeError : public Error {
 public:
  explicit RecipeError(std::vector<std::string> lines);
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

// `asset:ROLE` in a path-valued key: ROLE's file (tools/fetch-assets --print ROLE). Throws Error
// when the role cannot be had.
using AssetResolver = std::function<std::string(const std::string& role)>;

// The default: $QUANTLAB_FETCH_ASSETS, else tools/fetch-assets of the first folder at or above
// the recipe's own folder that has one (the checkout an example recipe lives in).
AssetResolver fetch_assets_resolver(const std::string& recipe_path);

// Reads and checks `path`. Relative paths in it are relative to the recipe's folder; `out` to the
// current directory. Throws RecipeError listing every problem.
Recipe read_recipe(const std::string& path, const AssetResolver& assets);

}  // namespace quantlab::pipeline
