#pragma once
// An output file that appears complete or not at all (DESIGN.md: no partial outputs). Bytes go to
// a temporary file beside the target (same directory, so the final rename is atomic on one file
// system); commit() flushes, fsyncs and renames it over the target. Destroying the object without
// a commit -- an exception, a bad input found half-way -- removes the temporary file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quantlab {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws Error naming the path if the temp file cannot be made
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write_zeros(size_t n);
  // Writes at an absolute offset (after everything written sequentially so far), for files whose
  // layout is planned up front and whose parts arrive in another order (streamed exports). Bytes
  // never written read as zeros; commit() extends the file to `end_size` if it is larger.
  void write_at(uint64_t offset, const void* data, size_t n);
  void set_end_size(uint64_t bytes) { end_size_ = bytes; }
  uint64_t size() const { return written_; }  // bytes written so far (sequentially)
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // Flush, fsync, rename over `path`, fsync the directory. After this the object is inert.
  void commit();

 private:
  void flush();
  void write_all(const uint8_t* p, size_t n);
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
  uint64_t end_size_ = 0;
  std::vector<uint8_t> buffer_;
};

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, const void* data, size_t n);

}  // namespace quantlab
