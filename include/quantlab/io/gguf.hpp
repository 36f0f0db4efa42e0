#pragma once
// GGUF (v2/v3) files: metadata key/values of every type, tensor infos, and tensor data mapped in
// place. The reader validates every count, length and offset against the file size before use,
// so a truncated or hostile file gives one Error naming the file and the field, never a crash.
//
// Shapes: GgufTensorInfo::ne is ggml's order (ne[0] is the innermost, contiguous dimension).
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/formats/format.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace quantlab {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufValue;
struct GgufArray {
  GgufType elem_type = GgufType::UINT8;
  std::vector<GgufValue> items;
};

// One metadata value; `type` keeps the exact on-disk type so a round trip is byte-identical.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  static GgufValue u32(uint32_t x) { return {GgufType::UINT32, uint64_t(x)}; }
  static GgufValue i32(int32_t x) { return {GgufType::INT32, int64_t(x)}; }
  static GgufValue u64(uint64_t x) { return {GgufType::UINT64, x}; }
  static GgufValue f32(float x) { return {GgufType::FLOAT32, double(x)}; }
  static GgufValue boolean(bool x) { return {GgufType::BOOL, x}; }
  static GgufValue str(std::string s) { return {GgufType::STRING, std::move(s)}; }
  static GgufValue array(GgufType elem, std::vector<GgufValue> items);
  static GgufValue string_array(const std::vector<std::string>& items);

  bool is_integer() const;
  bool is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
  // Typed access; throws Error(source, key, ...) on a type mismatch.
  int64_t as_int(const std::string& source, const std::string& key) const;
  double as_double(const std::string& source, const std::string& key) const;
  bool as_bool(const std::string& source, const std::string& key) const;
  const std::string& as_string(const std::string& source, const std::string& key) const;
  const GgufArray& as_array(const std::string& source, const std::string& key) const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] innermost
  FormatId type = FormatId::F32;
  uint64_t offset = 0;      // relative to the start of the data section
  uint64_t nbytes = 0;
  int64_t n_elements() const;
};

// llama.cpp's LLAMA_TOKEN_NULL (-1) as its tools store it in a tokenizer.ggml.*_token_id key: its
// converters write the int32 -1 with gguf_set_val_u32, i.e. 0xFFFFFFFF (llama-convert-llama2c-to-
// ggml's seperator/padding ids); an int32 -1 means the same.
inline bool gguf_token_id_is_none(int64_t id) { return id == int64_t(0xFFFFFFFFu) || id == -1; }

class GgufFile {
 public:
  // Maps and parses `path`; validates the header, every KV and every tensor (type known, sizes
  // consistent, data inside the file, no overlaps).
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute file offset of the data section

  // Metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  const GgufValue& get(const std::string& key) const;  // throws naming the missing key
  int64_t get_int(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const;
  double get_double(const std::string& key, std::optional<double> fallback = std::nullopt) const;
  std::string get_string(const std::string& key, std::optional<std::string> fallback = std::nullopt) const;
  // A tokenizer.ggml.*_token_id key: nullopt when absent or when it holds llama.cpp's "no such
  // token" (see gguf_token_id_is_none), in which case llama.cpp keeps its default id.
  std::optional<int64_t> get_token_id(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const uint8_t* tensor_data(const GgufTensorInfo& t) const { return file_.data() + data_offset_ + t.offset; }
  const MappedFile& file() const { return file_; }

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace quantlab
