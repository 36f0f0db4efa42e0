#include "quantlab/core/atomic_file.hpp"

#include "quantlab/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace quantlab {
namespace {

constexpr size_t kBufferBytes = size_t(1) << 20;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw Error("", "output path", "is empty");
  const std::filesystem::path target(path_);
  const std::string name = target.filename().string();
  if (name.empty() || name == "." || name == "..") throw Error(path_, "output path", "does not name a file");
  std::string tmpl = (target.parent_path() / ("." + name + ".tmp-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
  if (fd_ < 0) throw Error(path_, "output path", errno_text("cannot create a temporary file beside it"));
  temp_path_ = buf.data();
  // mkstemp makes the file 0600; outputs are ordinary files others may read.
  ::fchmod(fd_, 0644);
  buffer_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

void AtomicFile::write_all(const uint8_t* p, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd_, p + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path_, "write", errno_text("cannot write"));
    }
    done += size_t(w);
  }
}

void AtomicFile::flush() {
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t n) {
  if (fd_ < 0) throw Error(path_, "write", "file already committed");
  if (offset < written_) throw Error(path_, "write", "positioned write overlaps the sequential part");
  flush();
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd_, p + done, n - done, off_t(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path_, "write", errno_text("cannot write"));
    }
    done += size_t(w);
  }
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw Error(path_, "write", "file already committed");
  const auto* p = static_cast<const uint8_t*>(data);
  written_ += n;
  if (buffer_.size() + n > kBufferBytes) flush();
  if (n >= kBufferBytes) {  // large blocks bypass the buffer (no copy of a whole tensor)
    write_all(p, n);
    return;
  }
  buffer_.insert(buffer_.end(), p, p + n);
}

void AtomicFile::write_zeros(size_t n) {
  static const uint8_t zeros[4096] = {};
  while (n > 0) {
    const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    write(zeros, k);
    n -= k;
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error(path_, "commit", "file already committed");
  flush();
  struct stat st {};
  if (end_size_ > 0 && ::fstat(fd_, &st) == 0 && uint64_t(st.st_size) < end_size_ && ::ftruncate(fd_, off_t(end_size_)) != 0)
    throw Error(path_, "write", errno_text("cannot extend"));
  if (::fsync(fd_) != 0) throw Error(path_, "fsync", errno_text("cannot sync"));
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(path_, "close", errno_text("cannot close"));
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) throw Error(path_, "rename", errno_text("cannot rename the temporary file"));
  committed_ = true;
  // Make the rename itself durable.
  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  const std::string dir = parent.empty() ? std::string(1, '.') : parent.string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
  AtomicFile f(path);
  f.write(data, n);
  f.commit();
}

}  // namespace quantlab
