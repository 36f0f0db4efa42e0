#pragma once
// Writes GGUF v3 files: metadata of every value type (nested arrays included) and tensors, laid out
// as llama.cpp and the PyPI `gguf` package do (data section aligned to general.alignment, default
// 32; each tensor's data padded with zeros to the alignment). The file is written atomically.
//
// A writer filled from a GgufFile with the same keys, tensors and offsets reproduces the file byte
// for byte (gguf_writer_from); that is the round-trip check of the reader and the writer together.
#include "quantlab/core/atomic_file.hpp"
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3);

  // Sets a key, replacing its value in place if present (order of first insertion is kept).
  void set(const std::string& key, GgufValue value);
  bool remove(const std::string& key);
  const GgufValue* find(const std::string& key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }

  // Adds a tensor; `ne` is ggml's order (ne[0] innermost). `data` is borrowed and must stay valid
  // until write() returns; nbytes must be what the format registry says ne and type take.
  // `offset` (relative to the data section) places it explicitly; otherwise it follows the last
  // tensor, aligned.
  void add_tensor(std::string name, std::vector<int64_t> ne, FormatId type, const void* data, size_t nbytes,
                  std::optional<uint64_t> offset = std::nullopt);
  // Same, the writer keeping the bytes.
  void add_tensor(std::string name, std::vector<int64_t> ne, FormatId type, std::vector<uint8_t> data,
                  std::optional<uint64_t> offset = std::nullopt);
  // A tensor whose bytes come later through a GgufStream (streamed exports).
  void declare_tensor(std::string name, std::vector<int64_t> ne, FormatId type);
  size_t tensor_count() const { return tensors_.size(); }

  uint64_t alignment() const;  // general.alignment if set, else 32

  // Validates everything, then writes `path` atomically (temp file, fsync, rename). Throws Error
  // naming `path` and the offending key/tensor; on error no file appears.
  void write(const std::string& path) const;
  // The exact bytes write() would produce (tests, fuzzing, small files).
  std::vector<uint8_t> to_bytes() const;
  // The size of the file write() or a GgufStream would produce (declared tensors at their type's
  // size), known before any tensor is encoded: budgets on the file size are checked against it.
  uint64_t file_size() const;

 private:
  friend class GgufStream;
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    FormatId type;
    const uint8_t* data;
    size_t nbytes;
    std::optional<uint64_t> offset;
    std::shared_ptr<std::vector<uint8_t>> owned;
  };
  struct Layout {
    std::vector<uint64_t> offsets;  // per tensor, relative to the data section
    uint64_t data_size = 0;         // including the padding after the last tensor
  };
  Layout plan(const std::string& dest, bool declared_ok = false) const;
  std::vector<uint8_t> header(const Layout& L) const;
  template <typename Out>
  void emit(Out& out, const std::string& dest) const;

  uint32_t version_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

// A GGUF file written in pieces: the writer's header (declared tensors included) first, then the
// tensors' bytes at their planned offsets, tensors in any order, each front to back in one or more
// calls; commit() checks every tensor is complete and renames the file into place (atomic). The
// bytes equal GgufWriter::write's for the same data (padding reads as zeros).
class GgufStream {
 public:
  GgufStream(const GgufWriter& layout, const std::string& path);
  void write(const std::string& name, const void* data, size_t nbytes);
  void commit();

 private:
  struct Slot {
    uint64_t offset = 0, nbytes = 0, done = 0;
  };
  std::string path_;
  std::unique_ptr<AtomicFile> file_;
  std::map<std::string, Slot> slots_;
};

// A writer holding `f`'s metadata (same order, same types) and tensors (same offsets, data borrowed
// from f's mapping: keep f alive while writing).
GgufWriter gguf_writer_from(const GgufFile& f);

}  // namespace quantlab
