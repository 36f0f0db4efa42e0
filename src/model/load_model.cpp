// Picks the loader from what the path holds: a folder with config.json is a Hugging Face model;
// a file starting with "GGUF" is GGUF; a file whose first 28 bytes read as a plausible llama2.c
// header is a llama2.c checkpoint (that format has no magic, so plausibility is the test: every
// size positive and at most 2^20, heads dividing the width). Anything else is not a model.
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/model/model.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace quantlab {
namespace {

constexpr const char* kExpected = "expected GGUF, a Hugging Face folder (config.json + safetensors) or a llama2.c checkpoint";

bool plausible_llama2c_header(const uint8_t* h) {
  int32_t v[7];
  std::memcpy(v, h, sizeof v);  // little-endian, as every supported host
  const int32_t dim = v[0], hidden = v[1], layers = v[2], heads = v[3], kv_heads = v[4], seq_len = v[6];
  const int64_t vocab = v[5] < 0 ? -int64_t(v[5]) : int64_t(v[5]);  // negative: separate classifier
  for (int64_t x : {int64_t(dim), int64_t(hidden), int64_t(layers), int64_t(heads), int64_t(kv_heads), vocab, int64_t(seq_len)})
    if (x <= 0 || x > (int64_t(1) << 20)) return false;
  return dim % heads == 0 && heads % kv_heads == 0;
}

}  // namespace

ModelFileKind model_file_kind(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (is_hf_model_dir(path)) return ModelFileKind::HfFolder;
    throw Error(path, "", std::string("not a model folder: it has no config.json (") + kExpected + ")");
  }
  if (!fs::exists(path, ec)) throw Error(path, "", "no such file or folder");
  if (!fs::is_regular_file(path, ec)) throw Error(path, "", std::string("not a model file: not a regular file (") + kExpected + ")");
  uint8_t head[28] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = size_t(in.gcount());
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) return ModelFileKind::Gguf;
  uint64_t header_len = 0;
  std::memcpy(&header_len, head, sizeof header_len);
  if (got >= 9 && head[8] == '{' && header_len + 8 <= fs::file_size(path, ec))
    throw Error(path, "", "a safetensors file alone is not a model: give the folder that holds it and its config.json");
  if (got == sizeof head && plausible_llama2c_header(head)) return ModelFileKind::Llama2c;
  throw Error(path, "", std::string("not a model file (") + kExpected + ")");
}

Model load_model(const std::string& path) try {
  switch (model_file_kind(path)) {
    case ModelFileKind::HfFolder: return load_hf_model(path);
    case ModelFileKind::Gguf: return load_gguf_model(path);
    case ModelFileKind::Llama2c: break;
  }
  return load_llama2c_model(path);
} catch (...) {  // whatever a loader let through (a JSON type error, a size too large to allocate)
  rethrow_as_error(path, "");
}

}  // namespace quantlab
