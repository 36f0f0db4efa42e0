#include "quantlab/core/mapped_file.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace quantlab {
namespace {

// Live mappings (start -> size), so release_mapped_pages never touches memory it does not own.
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<uintptr_t, size_t>& registry() {
  static std::map<uintptr_t, size_t> r;
  return r;
}
void register_mapping(const uint8_t* p, size_t n) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[reinterpret_cast<uintptr_t>(p)] = n;
}
void unregister_mapping(const uint8_t* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(reinterpret_cast<uintptr_t>(p));
}

}  // namespace

size_t release_mapped_pages(const void* p, size_t n) {
  if (!p || n == 0) return 0;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& r = registry();
  auto it = r.upper_bound(a);
  if (it == r.begin()) return 0;
  --it;
  const uintptr_t map_begin = it->first, map_end = it->first + it->second;
  if (a >= map_end) return 0;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  // Whole pages touching the range (the mapping starts page-aligned; pages shared with a neighbour
  // are simply read again if it is used later).
  const uintptr_t b = a / page * page;
  const uintptr_t e = std::min(map_end, (std::min(a + n, map_end) + page - 1) / page * page);
  if (e <= b || b < map_begin) return 0;
  if (::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED) != 0) return 0;
  return size_t(e - b);
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO given by mistake must fail below, not block forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path, "", "not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      throw Error(path, "", std::string("cannot map: ") + std::strerror(e));
    }
    data_ = static_cast<const uint8_t*>(p);
    register_mapping(data_, size_);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  unregister_mapping(data_);
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : path_(std::move(o.path_)), data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    unregister_mapping(data_);
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

}  // namespace quantlab
