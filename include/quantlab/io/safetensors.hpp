#pragma once
// safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and [begin, end) byte range in the data section, then the data. Files are mapped,
// and the header is validated completely before anything is used: the JSON (size, depth, UTF-8,
// duplicate names), every dtype, every shape against its byte size, every range inside the file
// and no two ranges overlapping. Sharded checkpoints (model.safetensors.index.json) map each shard.
//
// Shapes are row-major, outermost first (PyTorch order).
#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/formats/format.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab {

struct SafetensorsDtype {
  std::string_view name;          // as in the header: "F32", "BF16", "F8_E4M3", ...
  size_t bytes;                   // per element
  std::optional<FormatId> format; // the registry entry, where the project has one
};
// Null for a dtype name safetensors does not define.
const SafetensorsDtype* find_safetensors_dtype(std::string_view name);
const std::vector<SafetensorsDtype>& safetensors_dtypes();

struct SafetensorsTensor {
  std::string name;
  const SafetensorsDtype* dtype = nullptr;
  std::vector<int64_t> shape;  // PyTorch order
  uint64_t begin = 0, end = 0; // relative to the data section
  uint64_t nbytes() const { return end - begin; }
  int64_t n_elements() const;
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;     // in data order
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_offset = 0;                   // 8 + header length
};

// Parses and validates the header of a complete file held in memory (also the fuzzing entry
// point). `source` names the file in errors.
SafetensorsHeader parse_safetensors(const std::string& source, const uint8_t* data, size_t size);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsTensor* find(const std::string& name) const;
  const uint8_t* data(const SafetensorsTensor& t) const { return file_.data() + header_.data_offset + t.begin; }
  uint64_t data_offset() const { return header_.data_offset; }
  uint64_t size() const { return file_.size(); }

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// One checkpoint: a single .safetensors file, or the shards listed by a
// model.safetensors.index.json ("weight_map": tensor -> shard file in the same folder). Every
// tensor of the weight map must be in its shard, and no tensor may appear in two shards.
class SafetensorsCheckpoint {
 public:
  // `path`: a .safetensors file, an index .json, or a folder holding model.safetensors or
  // model.safetensors.index.json.
  explicit SafetensorsCheckpoint(const std::string& path);

  const std::string& path() const { return path_; }  // the file or index opened
  struct Entry {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
  };
  const std::vector<Entry>& tensors() const { return entries_; }  // shard by shard, data order
  const Entry* find(const std::string& name) const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // "__metadata__" of the first shard (exports keep the same map in every shard).
  const std::map<std::string, std::string>& metadata() const;

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
};

// Writes a safetensors file atomically: "__metadata__" (a string map), then tensors in the order
// added, data contiguous, header padded with spaces to a multiple of 8 bytes (as the reference
// implementation does, so data stays aligned).
class SafetensorsWriter {
 public:
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // `data` is borrowed until write() returns.
  void add_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  void add_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, std::vector<uint8_t> data);
  // A tensor whose bytes come later through a SafetensorsStream (streamed exports).
  void declare_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, size_t nbytes);
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  friend class SafetensorsStream;
  struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    const uint8_t* data;
    size_t nbytes;
    std::shared_ptr<std::vector<uint8_t>> owned;
  };
  std::string header(const std::string& dest, bool declared_ok = false) const;
  std::map<std::string, std::string> metadata_;
  std::vector<Tensor> tensors_;
};

// A safetensors file written in pieces: the header of a writer (declared tensors included) is
// written first, then the tensors' bytes at their offsets, tensors in any order, each tensor front
// to back in one or more calls; commit() checks that every tensor is complete and renames the file
// into place (atomic, as SafetensorsWriter::write). The bytes equal what SafetensorsWriter::write
// gives for the same data.
class SafetensorsStream {
 public:
  SafetensorsStream(const SafetensorsWriter& layout, const std::string& path);
  // The next `nbytes` of tensor `name`.
  void write(const std::string& name, const void* data, size_t nbytes);
  void commit();

 private:
  struct Slot {
    uint64_t offset = 0, nbytes = 0, done = 0;
  };
  std::string path_;
  AtomicFile file_;
  std::map<std::string, Slot> slots_;
};

}  // namespace quantlab
