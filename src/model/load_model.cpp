// Picks the loader: a folder with config.json is a Hugging Face model; a file starting with
// "GGUF" is GGUF; anything else is tried as a llama2.c checkpoint (that format has no magic).
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/model/model.hpp"

#include <cstring>

namespace quantlab {

Model load_model(const std::string& path) try {
  if (is_hf_model_dir(path)) return load_hf_model(path);
  MappedFile probe(path);
  if (probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0) return load_gguf_model(path);
  return load_llama2c_model(path);
} catch (...) {  // whatever a loader let through (a JSON type error, a size too large to allocate)
  rethrow_as_error(path, "");
}

}  // namespace quantlab
