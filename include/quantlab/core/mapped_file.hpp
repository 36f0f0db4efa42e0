#pragma once
// A read-only memory-mapped file. Models are mapped, not read, so a model larger than memory can
// be streamed layer by layer (DESIGN.md: layer-sequential work).
#include <cstddef>
#include <cstdint>
#include <string>

namespace quantlab {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace quantlab
