// Picks the loader by the file's magic (GGUF files start with "GGUF"; llama2.c has no magic).
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/model/model.hpp"

#include <cstring>

namespace quantlab {

Model load_model(const std::string& path) {
  MappedFile probe(path);
  if (probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0) return load_gguf_model(path);
  return load_llama2c_model(path);
}

}  // namespace quantlab
