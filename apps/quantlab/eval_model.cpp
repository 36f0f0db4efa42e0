#include "eval_model.hpp"

#include "quantlab/io/hf_model.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/pipeline/export_hf.hpp"

#include <filesystem>

namespace quantlab::cli {

Model load_eval_model(const std::string& path) {
  if (is_hf_model_dir(path)) {
    const nlohmann::json config = read_json_file((std::filesystem::path(path) / "config.json").string());
    if (json_member(config, "quantization_config")) return pipeline::load_quantized_export(path);
  }
  return load_model(path);
}

}  // namespace quantlab::cli
