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

// Drops the pages of [p, p + n) from the process's resident set, where the range lies inside a live
// MappedFile: the mapping is read-only, so its pages are never dirty and the next access reads them
// again from the file (page cache). Ranges outside every MappedFile (owned buffers) are left alone,
// so callers may pass any weight pointer. Lets a layer-sequential pass over a mapped model keep only
// the current layer resident. Returns the bytes released.
size_t release_mapped_pages(const void* p, size_t n);

}  // namespace quantlab
