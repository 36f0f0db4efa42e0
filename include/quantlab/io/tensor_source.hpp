#pragma once
// The one read-only view model loaders use, whatever the file: a list of named tensors with their
// shape (row-major, outermost first: PyTorch order; a GGUF tensor's shape is its ne reversed),
// encoding and bytes in place (mapped), plus the source's metadata.
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

struct TensorView {
  std::string name;
  std::vector<int64_t> shape;      // PyTorch order
  std::string dtype;               // as the source names it: "F32", "BF16", "q4_K", "U8", ...
  std::optional<FormatId> format;  // the registry entry; absent for dtypes the registry lacks (U8, BOOL, F8)
  const uint8_t* data = nullptr;   // valid while the source lives
  size_t nbytes = 0;
  int64_t n_elements() const;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::string kind() const = 0;  // "gguf", "safetensors", "llama2c"
  virtual const std::string& path() const = 0;
  virtual std::string architecture() const = 0;
  // GGUF key/values; HF config.json (+ "__metadata__" of the weights); llama2.c header. Arrays
  // longer than max_array_items are summarized as {"array": type, "length": n, "first": [...]}.
  virtual nlohmann::json metadata(size_t max_array_items = std::numeric_limits<size_t>::max()) const = 0;

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws Error(path, name, "no such tensor")

 protected:
  void add(TensorView v);
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
};

class GgufSource : public WeightSource {
 public:
  explicit GgufSource(const std::string& path);
  std::string kind() const override { return "gguf"; }
  const std::string& path() const override { return file_.path(); }
  std::string architecture() const override;
  nlohmann::json metadata(size_t max_array_items = std::numeric_limits<size_t>::max()) const override;
  const GgufFile& gguf() const { return file_; }

 private:
  GgufFile file_;
};

class SafetensorsSource : public WeightSource {
 public:
  // A .safetensors file, a model.safetensors.index.json, or a Hugging Face model folder.
  explicit SafetensorsSource(const std::string& path);
  std::string kind() const override { return "safetensors"; }
  const std::string& path() const override { return path_; }
  std::string architecture() const override;
  nlohmann::json metadata(size_t max_array_items = std::numeric_limits<size_t>::max()) const override;
  const SafetensorsCheckpoint& checkpoint() const { return *checkpoint_; }
  const HfModelDir* hf() const { return hf_ ? &*hf_ : nullptr; }

 private:
  std::string path_;
  std::optional<HfModelDir> hf_;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
};

class Llama2cSource : public WeightSource {
 public:
  explicit Llama2cSource(const std::string& path);
  std::string kind() const override { return "llama2c"; }
  const std::string& path() const override { return checkpoint_.path(); }
  std::string architecture() const override { return "llama"; }
  nlohmann::json metadata(size_t max_array_items = std::numeric_limits<size_t>::max()) const override;
  const Llama2cCheckpoint& checkpoint() const { return checkpoint_; }

 private:
  Llama2cCheckpoint checkpoint_;
};

// GGUF metadata value as JSON (strings with invalid UTF-8 are kept as bytes; dump with the
// `replace` error handler).
nlohmann::json gguf_value_to_json(const GgufValue& v, size_t max_array_items = std::numeric_limits<size_t>::max());

// Opens whatever `path` is: a folder (Hugging Face model or safetensors checkpoint), a GGUF file,
// a safetensors file or index, or a llama2.c checkpoint. Throws Error if it is none of these.
std::unique_ptr<WeightSource> open_weight_source(const std::string& path);

}  // namespace quantlab
